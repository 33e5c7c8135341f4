"""« Absent » and « forbidden » look alike: no existence oracle on the doors that read a record.

A caller who may not read a record gets exactly what a caller asking for an unknown id gets: the
same 404 with the same French message, without the id. This holds for CKAN's ``package_show``,
``resource_show`` and ``resource_view_list`` (chained below, so every page built on them — the
CA/JDD and dataset pages, resource pages, downloads, DCAT — answers the same 404), and for the
``sinp_*`` actions, which look their record up with ``readable_package`` / ``readable_resource``.
Writes keep their 403 for a caller who may read the record but not change it; a caller who may
not even read it gets the 404 (``require_readable``).
"""

from __future__ import annotations

import ckan.model as model
import ckan.plugins as p
import ckan.plugins.toolkit as tk

from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.logic import inputs, queries

RECORD_NOT_FOUND = "Fiche introuvable."
JDD_NOT_FOUND = "Jeu de données introuvable."
RESOURCE_NOT_FOUND = "Ressource introuvable."


def uuid_unusable(uuid: str) -> str:
    """What a writer is told when a SINP UUID is taken by a record it may not read: neither its
    type, nor its title, nor its producer (the precise message is for those who may read it)."""
    return (
        f"L'identifiant SINP {uuid} ne peut pas être utilisé : vérifiez-le, ou contactez les administrateurs "
        "de la plateforme."
    )


def may_read(context, package_id: str | None) -> bool:
    """Whether the caller may read the package (``package_show``'s auth: CKAN's rule and ours)."""
    if not package_id:
        return False
    if context.get("ignore_auth"):
        return True
    check = {"model": model, "session": model.Session, "user": context.get("user")}
    if context.get("auth_user_obj") is not None:
        check["auth_user_obj"] = context["auth_user_obj"]
    try:
        tk.check_access("package_show", check, {"id": package_id})
    except (tk.NotAuthorized, tk.ObjectNotFound):
        return False
    return True


def _package(ref):
    if not isinstance(ref, str) or not ref.strip() or "\x00" in ref:
        return None
    pkg = model.Package.get(ref)
    if pkg is None:
        found = queries.packages_by_extra(model, "sinp_uuid", sinp_model.normalize_uuid(ref))
        pkg = found[0] if found else None
    return pkg


def readable_package(context, ref, kind: str | None = None, message: str = RECORD_NOT_FOUND, deleted: bool = True):
    """The package ``ref`` (id, name or SINP UUID) when the caller may read it (and it is of
    ``kind`` when given; not deleted unless ``deleted``); else ``ObjectNotFound(message)``, the
    same whether it does not exist or may not be read."""
    pkg = _package(ref)
    if (
        pkg is None
        or (kind is not None and pkg.type != kind)
        or (not deleted and pkg.state == "deleted")
        or not may_read(context, pkg.id)
    ):
        raise tk.ObjectNotFound(message)
    return pkg


def _resource(resource_id):
    return model.Resource.get(resource_id) if isinstance(resource_id, str) and "\x00" not in resource_id else None


def readable_resource(context, resource_id, message: str = RESOURCE_NOT_FOUND):
    """(resource, package) when the resource exists, is not deleted and the caller may read its
    package; else ``ObjectNotFound(message)``."""
    resource = _resource(resource_id)
    if (
        resource is None
        or resource.state == "deleted"
        or resource.package is None
        or not may_read(context, resource.package_id)
    ):
        raise tk.ObjectNotFound(message)
    return resource, resource.package


def require_readable(context, package_ref, message: str = RECORD_NOT_FOUND) -> None:
    """Before a write: a caller who may not read the package gets the 404 of an unknown id (and
    one who may read it, the write's own 403)."""
    readable_package(context, package_ref, message=message)


# --- CKAN's read actions, chained -----------------------------------------------------------------


@tk.chained_action
@tk.side_effect_free
def package_show(original_action, context, data_dict):
    """CKAN's ``package_show``; an unknown id and a record the caller may not read give the same
    404 « Fiche introuvable. » (CKAN says 403 with the id for the latter)."""
    try:
        return original_action(context, data_dict)
    except (tk.ObjectNotFound, tk.NotAuthorized):
        raise tk.ObjectNotFound(RECORD_NOT_FOUND)


def _resource_reader():
    """A chained resource read action: a resource of a record the caller may not read gives the 404
    of an unknown resource; a caller who may read the record keeps the 403 of a restricted file
    (an occurrence deposit's raw file) with its explanation."""

    @tk.chained_action
    @tk.side_effect_free
    def action(original_action, context, data_dict):
        try:
            return original_action(context, data_dict)
        except tk.ObjectNotFound:
            raise tk.ObjectNotFound(RESOURCE_NOT_FOUND)
        except tk.NotAuthorized:
            _resource_or_404(context, data_dict)
            raise

    return action


def _record_reader(*keys):
    """A chained read action of CKAN that takes record ids (``keys``) and answered differently for
    an unknown record and one the caller may not read (``dataset_follower_count`` even counted the
    followers of a private one): both get the 404 « Fiche introuvable. » before the action runs."""

    @tk.chained_action
    @tk.side_effect_free
    def action(original_action, context, data_dict):
        for key in keys:
            ref = (data_dict or {}).get(key)
            if ref not in (None, ""):
                require_readable(context, inputs.check_identifier(ref, key))
        try:
            return original_action(context, data_dict)
        except tk.ObjectNotFound:
            raise tk.ObjectNotFound(RECORD_NOT_FOUND)

    return action


def _resource_or_404(context, data_dict):
    resource = _resource((data_dict or {}).get("id"))
    if resource is None or not may_read(context, resource.package_id):
        raise tk.ObjectNotFound(RESOURCE_NOT_FOUND)


# --- CKAN's write actions, chained: 404 for who may not even read the record -------------------------


def _record_written(context, data_dict):
    ref = data_dict.get("id") or data_dict.get("name")
    if ref:  # without one, CKAN's own 409
        require_readable(context, ref)


def _parent_written(context, data_dict):
    if data_dict.get("package_id"):
        require_readable(context, data_dict["package_id"])


def _resource_written(context, data_dict):
    if data_dict.get("id"):
        _resource_or_404(context, data_dict)


def _writer(check):
    """A chained write action that first runs ``check``: 404 for a caller who may not read the record
    (a caller who may read it gets the action's own 403)."""

    @tk.chained_action
    def action(original_action, context, data_dict):
        check(context, data_dict or {})
        return original_action(context, data_dict)

    return action


def get_actions() -> dict:
    extra = {"package_activity_list": _record_reader("id")} if p.plugin_loaded("activity") else {}
    return extra | {
        "package_show": package_show,
        "resource_show": _resource_reader(),
        "resource_view_list": _resource_reader(),
        "package_relationships_list": _record_reader("id", "id2"),
        "package_collaborator_list": _record_reader("id"),
        "dataset_follower_count": _record_reader("id"),
        "dataset_follower_list": _record_reader("id"),
        "package_update": _writer(_record_written),
        "package_patch": _writer(_record_written),
        "resource_create": _writer(_parent_written),
        "resource_update": _writer(_resource_written),
        "resource_patch": _writer(_resource_written),
        "resource_delete": _writer(_resource_written),
    }


def readable_jdd(context, ref):
    """The JDD ``ref`` (id, name or SINP UUID); unknown, deleted or not readable by the caller: the
    same 404."""
    ref = inputs.check_identifier(ref, "jdd")
    return readable_package(context, ref, "jdd", JDD_NOT_FOUND, deleted=False)
