"""Harvest sources (ckanext-harvest) for sysadmins only.

* Creating, changing, deleting, clearing a source, starting or stopping its jobs and reading its
  job reports: sysadmins only (ckanext-harvest lets any editor of the organisation do it, and a
  source URL makes the server call it).
* A source's URL must be one that the guarded HTTP client may call (``ckanext.sinp.guarded_http``):
  checked when the source is created or changed (409 on ``url``), and again at each request.
* Its URL and configuration, and the error reports of its jobs, are shown to sysadmins only.
"""

from __future__ import annotations

import importlib
import json

import ckan.model as model
import ckan.plugins.toolkit as tk
from ckan.logic import auth_audit_exempt

from ckanext.harvest.logic import HarvestJobExists, HarvestSourceInactiveError
from ckanext.sinp import guarded_http, outages
from ckanext.sinp.logic import access

HARVEST_TYPE = "harvest"
HIDDEN_FIELDS = ("url", "config")
ERROR_SUMMARIES = ("object_error_summary", "gather_error_summary")

# ckanext-harvest's auth functions (logic/auth/) that manage sources and jobs -> what they do
ADMIN_ONLY = {
    "harvest_source_create": "créer une source de moissonnage",
    "harvest_source_update": "modifier une source de moissonnage",
    "harvest_source_delete": "supprimer une source de moissonnage",
    "harvest_source_clear": "vider une source de moissonnage",
    "harvest_sources_clear": "vider les sources de moissonnage",
    "harvest_source_reindex": "réindexer une source de moissonnage",
    "harvest_sources_reindex": "réindexer les sources de moissonnage",
    "harvest_job_create": "lancer un moissonnage",
    "harvest_job_create_all": "lancer les moissonnages",
    "harvest_jobs_run": "lancer les moissonnages",
    "harvest_job_abort": "arrêter un moissonnage",
    "harvest_send_job_to_gather_queue": "lancer un moissonnage",
    "harvest_objects_import": "réimporter des enregistrements moissonnés",
    "harvest_object_create": "créer des enregistrements moissonnés",
    "harvest_object_list": "lister les enregistrements moissonnés",
    "harvest_job_show": "consulter les rapports de moissonnage",
    "harvest_job_list": "consulter les rapports de moissonnage",
    "harvest_get_notifications_recipients": "consulter les destinataires des notifications de moissonnage",
}
# ``harvest_source_patch`` (an alias of ``harvest_source_update`` upstream) goes through
# ``package_patch`` -> ``package_update``: a source is a dataset of type ``harvest``, so CKAN's
# dataset auth functions also refuse it to non-sysadmins (``package_create`` / ``_update`` / ``_delete``)
DATASET_AUTH = {
    "package_create": "créer une source de moissonnage",
    "package_update": "modifier une source de moissonnage",
    "package_delete": "supprimer une source de moissonnage",
}


def _is_sysadmin(context) -> bool:

    user = access.user_of(context)
    return user is not None and bool(user.sysadmin)


def _sees_sources(context) -> bool:
    """Sysadmins, and CKAN's internal calls (``ignore_auth``), see URLs and configurations."""
    return bool(context.get("ignore_auth")) or _is_sysadmin(context)


def _refusal(what: str) -> dict:
    return {"success": False, "msg": f"Seuls les administrateurs de la plateforme peuvent {what}."}


def _admin_only(name: str, what: str):
    def auth(next_auth, context, data_dict):
        # sysadmins never reach here (CKAN lets them through); nobody else may
        return _refusal(what)

    auth.__name__ = name
    auth.__doc__ = f"ckanext-harvest's ``{name}``, for sysadmins only."
    # reached by anonymous callers too, so that they get this French refusal (not CKAN's English one)
    return tk.chained_auth_function(tk.auth_allow_anonymous_access(auth))


def _is_source(context, name: str, data_dict) -> bool:
    """Whether a dataset auth call concerns a harvest source."""
    data_dict = data_dict if isinstance(data_dict, dict) else {}
    if name == "package_create":
        return data_dict.get("type") == HARVEST_TYPE
    pkg = context.get("package")
    if pkg is None and isinstance(data_dict.get("id"), str):
        pkg = model.Package.get(data_dict["id"])
    return pkg is not None and getattr(pkg, "type", None) == HARVEST_TYPE


def _dataset_auth(name: str, what: str, previous):
    """CKAN's dataset auth ``name`` (or the plugin's own chained one, ``previous``), refused to
    non-sysadmins for a harvest source."""

    core = getattr(importlib.import_module(f"ckan.logic.auth.{name.split('_')[1]}"), name)
    if previous is not None and not getattr(previous, "chained_auth_function", False):

        def auth(context, data_dict):  # the plugin replaces CKAN's function: so does this one
            return _refusal(what) if _is_source(context, name, data_dict) else previous(context, data_dict)
    else:

        def auth(next_auth, context, data_dict):
            if _is_source(context, name, data_dict):
                return _refusal(what)
            return previous(next_auth, context, data_dict) if previous is not None else next_auth(context, data_dict)

        auth.chained_auth_function = True

    for source in (core, previous):  # anonymous access as CKAN's (or the plugin's) function says
        if source is not None and hasattr(source, "auth_allow_anonymous_access"):
            auth.auth_allow_anonymous_access = source.auth_allow_anonymous_access
    auth.__name__ = name
    auth.__doc__ = f"CKAN's ``{name}``; for a harvest source, sysadmins only."
    return auth


def with_harvest_auth(functions: dict) -> dict:
    """The plugin's auth functions, plus: harvest administration for sysadmins only (composed with
    the plugin's own chained dataset auth functions when there are some)."""
    out = dict(functions)
    out.update({name: _admin_only(name, what) for name, what in ADMIN_ONLY.items()})
    for name, what in DATASET_AUTH.items():
        out[name] = _dataset_auth(name, what, functions.get(name))
    return out


# --- source URL ------------------------------------------------------------------------------------


def check_source_url(data_dict: dict) -> None:
    """409 on ``url`` when the guarded HTTP client would refuse to call the source's URL."""
    try:
        guarded_http.check_url(data_dict.get("url") or "")
    except guarded_http.GuardedHttpError as err:
        raise tk.ValidationError({"url": [f"{err} (URL de la source de moissonnage)"]}) from None


def _check_create(context, data_dict) -> None:
    """A harvest source (a dataset of type ``harvest``, from ``harvest_source_create`` or the form)
    names a server that the guarded HTTP client may call."""
    if isinstance(data_dict, dict) and data_dict.get("type") == HARVEST_TYPE:
        tk.check_access("package_create", dict(context), data_dict)  # a 403 before any word on the URL
        check_source_url(data_dict)


def _check_update(context, data_dict) -> None:
    if not isinstance(data_dict, dict):
        return
    kind = data_dict.get("type")
    if kind is None and isinstance(data_dict.get("id"), str):
        pkg = model.Package.get(data_dict["id"])
        kind = pkg.type if pkg is not None else None
    if kind == HARVEST_TYPE:
        tk.check_access("package_update", dict(context), data_dict)
        check_source_url(data_dict)


def _chain(name: str, check, previous):
    """A chained action running ``check`` then ``previous`` (the plugin's own chained action of that
    name, if any) or CKAN's."""

    def chained(original_action, context, data_dict):
        check(context, data_dict)
        if previous is not None:
            return previous(original_action, context, data_dict)
        return original_action(context, data_dict)

    if previous is not None:
        chained.__dict__.update(previous.__dict__)
    chained.__name__ = name
    chained.__doc__ = check.__doc__
    return tk.chained_action(chained)


# --- what non-sysadmins see of a source ------------------------------------------------------------


def hide_source_fields(context, source: dict) -> dict:
    """A harvest source (dataset of type ``harvest`` or ckanext-harvest's source dict) without its
    URL, configuration and jobs' error reports, for whoever is not a sysadmin."""
    if isinstance(source, dict) and not _sees_sources(context):
        # ckanext-harvest's show schema also copies each key of the configuration to the top level
        # (``harvest_source_convert_from_config``): those copies go with it
        for key in _config_keys(source.get("config")):
            if key not in _SOURCE_FIELDS:
                source.pop(key, None)
        for key in HIDDEN_FIELDS:
            if key in source:
                source[key] = ""
        _drop_hidden_extras(source)
        status = source.get("status")
        if isinstance(status, dict):
            _hide_job_errors(status.get("last_job"))
        _hide_job_errors(source.get("last_job_status"))
    return source


# the fields of a source itself, never removed as copies of its configuration's keys
_SOURCE_FIELDS = frozenset(
    {
        "id",
        "name",
        "title",
        "type",
        "notes",
        "url",
        "config",
        "source_type",
        "owner_org",
        "organization",
        "frequency",
        "state",
        "private",
        "status",
        "extras",
        "creator_user_id",
        "metadata_created",
        "metadata_modified",
        "active",
        "publisher_id",
        "user_id",
    }
)


def _config_keys(config) -> list[str]:
    if isinstance(config, dict):
        return list(config)
    if isinstance(config, str) and config.strip():
        try:
            parsed = json.loads(config)
        except ValueError:
            return []
        return list(parsed) if isinstance(parsed, dict) else []
    return []


def after_dataset_show(context, pkg_dict: dict) -> dict:
    if isinstance(pkg_dict, dict) and pkg_dict.get("type") == HARVEST_TYPE:
        hide_source_fields(context, pkg_dict)
    return pkg_dict


def before_dataset_index(pkg_dict: dict) -> dict:
    """A source's URL and configuration are not searchable (``q=url:…`` would tell anyone what they
    contain). The stored dicts keep them (``package_show`` reads them back for sysadmins); search
    results are filtered by ``after_dataset_search``."""
    if pkg_dict.get("type") != HARVEST_TYPE:
        return pkg_dict
    for key in HIDDEN_FIELDS:  # the configuration is also an extra (``extras_config``, copied to ``text``)
        pkg_dict.pop(key, None)
        pkg_dict.pop(f"extras_{key}", None)
    return pkg_dict


def _drop_hidden_extras(source: dict) -> None:
    if isinstance(source.get("extras"), list):
        source["extras"] = [e for e in source["extras"] if not (isinstance(e, dict) and e.get("key") in HIDDEN_FIELDS)]


def _hide_job_errors(job) -> None:
    if isinstance(job, dict):
        for key in ERROR_SUMMARIES:
            job.pop(key, None)


def after_dataset_search(search_results: dict, search_params: dict) -> dict:
    """Sources in search results (the ``/harvest`` list) without URL nor configuration, unless the
    caller is a sysadmin (search results carry no context: the logged-in user is asked)."""
    results = search_results.get("results") or []
    if any(isinstance(r, dict) and r.get("type") == HARVEST_TYPE for r in results):
        context = {"user": _current_user_name()}
        for result in results:
            if isinstance(result, dict) and result.get("type") == HARVEST_TYPE:
                hide_source_fields(context, result)
    return search_results


def _current_user_name() -> str | None:
    try:
        user = tk.current_user
        return user.name if getattr(user, "is_authenticated", False) else None
    except Exception:  # noqa: BLE001 — outside a request (CLI, jobs) there is no user
        return None


@tk.chained_action
@tk.side_effect_free
@auth_audit_exempt  # as upstream: public, no auth call of its own
def harvest_source_list(original_action, context, data_dict):
    return [hide_source_fields(context, source) for source in original_action(context, data_dict)]


@tk.chained_action
@tk.side_effect_free
@auth_audit_exempt  # as upstream: the auth is package_show's
def harvest_source_show(original_action, context, data_dict):
    """Looking a source up by its URL is for sysadmins (otherwise anyone could test guesses)."""
    if (data_dict or {}).get("url") and not (data_dict or {}).get("id") and not _sees_sources(context):
        raise tk.ObjectNotFound("Source de moissonnage introuvable : cherchez-la par son identifiant.")
    return original_action(context, data_dict)


@tk.chained_action
@tk.side_effect_free
def harvest_source_show_status(original_action, context, data_dict):
    """The status of a source (shown with it) without its jobs' error reports for non-sysadmins:
    they repeat what the source's server answered."""
    status = original_action(context, data_dict)
    if not _sees_sources(context) and isinstance(status, dict):
        _hide_job_errors(status.get("last_job"))
    return status


@tk.chained_action
def harvest_source_reindex(original_action, context, data_dict):
    """ckanext-harvest 1.6.3 checks no auth here (anyone could reindex a source): sysadmins."""
    tk.check_access("harvest_source_reindex", context, data_dict)
    return original_action(context, data_dict)


@tk.chained_action
def harvest_abort_failed_jobs(original_action, context, data_dict):
    """ckanext-harvest 1.6.3 checks no auth here (anyone could abort jobs): sysadmins."""
    tk.check_access("harvest_job_abort", context, data_dict)
    return original_action(context, data_dict)


@tk.chained_action
def harvest_job_create(original_action, context, data_dict):
    """A job is created only when it can be sent: Redis down gives a 503 before anything is written
    (ckanext-harvest recorded the job « Running » then failed to queue it, blocking the source);
    a source that already has a job waiting or running, or an inactive one, gives a French 409."""
    tk.check_access("harvest_job_create", context, data_dict)
    if not outages.redis_up():
        raise outages.ServiceUnavailable(["redis"])
    try:
        return original_action(context, data_dict)
    except (HarvestJobExists, HarvestSourceInactiveError) as err:
        model.Session.rollback()
        message = (
            "Cette source a déjà un moissonnage en attente ou en cours : attendez sa fin (ou arrêtez-le) avant d'en lancer un autre."
            if isinstance(err, HarvestJobExists)
            else "Cette source de moissonnage est désactivée : réactivez-la avant de lancer un moissonnage."
        )
        raise tk.ValidationError({"source_id": [message]}) from None


def with_harvest_guards(actions: dict) -> dict:
    """The plugin's actions, plus the checks of harvest sources (composed with the plugin's own
    chained ``package_create`` / ``package_update`` when there are some)."""
    out = dict(actions)
    out["package_create"] = _chain("package_create", _check_create, actions.get("package_create"))
    out["package_update"] = _chain("package_update", _check_update, actions.get("package_update"))
    out.update(
        harvest_source_list=harvest_source_list,
        harvest_source_show=harvest_source_show,
        harvest_source_show_status=harvest_source_show_status,
        harvest_source_reindex=harvest_source_reindex,
        harvest_abort_failed_jobs=harvest_abort_failed_jobs,
        harvest_job_create=harvest_job_create,
    )
    return out
