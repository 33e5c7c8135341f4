"""Authorisation functions of the SINP actions (same names as the actions)."""

from __future__ import annotations

import ckan.model as model
import ckan.plugins.toolkit as tk

from ckanext.sinp import jobs
from ckanext.sinp.logic import access, harvest_guard
from ckanext.sinp.occurrences import store


def sinp_mtd_import(context, data_dict):
    """Importing creates records in ``owner_org``: allowed to whoever may create datasets there."""
    try:
        tk.check_access("package_create", context, {"owner_org": data_dict.get("owner_org")})
    except tk.NotAuthorized:
        return {"success": False, "msg": "Vous ne pouvez pas créer de fiches pour cette structure productrice."}
    return {"success": True}


def _may_read(context, package_id, msg):
    """Allowed to whoever may read the package (``package_show``)."""
    try:
        tk.check_access("package_show", dict(context), {"id": package_id})
    except (tk.NotAuthorized, tk.ObjectNotFound):
        return {"success": False, "msg": msg}
    return {"success": True}


@tk.auth_allow_anonymous_access
def sinp_mtd_export(context, data_dict):
    """Exporting a record shows it: allowed to whoever may read it."""
    return _may_read(context, data_dict.get("id"), "Vous n'avez pas accès à cet enregistrement.")


@tk.auth_allow_anonymous_access
def sinp_iso_show(context, data_dict):
    """Showing the ISO record shows the record: allowed to whoever may read it."""
    return sinp_mtd_export(context, data_dict)


@tk.auth_allow_anonymous_access
def sinp_taxon_search(context, data_dict):
    return {"success": True}


def _may_edit_jdd(context, data_dict, what):
    try:
        tk.check_access("package_update", context, {"id": data_dict.get("id")})
    except (tk.NotAuthorized, tk.ObjectNotFound):
        return {
            "success": False,
            "msg": f"Seuls le producteur du jeu de données et les administrateurs de la plateforme peuvent {what}.",
        }
    return {"success": True}


def sinp_qc_run(context, data_dict):
    return _may_edit_jdd(context, data_dict, "relancer le contrôle d'un dépôt")


def _user(context):

    return access.user_of(context)


def _sysadmin_only(context, what):
    user = _user(context)
    if user is not None and user.sysadmin:
        return {"success": True}
    return {"success": False, "msg": f"Seuls les administrateurs de la plateforme peuvent {what}."}


def sinp_qc_report_show(context, data_dict):
    """The producer and sysadmins; the chefs de file covering the JDD (values that locate masked)."""
    result = _may_edit_jdd(context, data_dict, "consulter le rapport de contrôle d'un dépôt")
    if result["success"]:
        return result

    if access.is_chef_for_record(_user(context), model.Package.get(data_dict.get("id"))):
        return {"success": True}
    return {
        "success": False,
        "msg": "Seuls le producteur du jeu de données, les chefs de file de son périmètre "
        "et les administrateurs de la plateforme consultent ce rapport.",
    }


@tk.auth_allow_anonymous_access
def sinp_occurrence_search(context, data_dict):
    """Whoever may read the JDD (published, or private to its organisation, the chefs de file of
    its scope and sysadmins); the action blurs each row for the caller."""
    return _may_read(context, data_dict.get("id"), "Vous n'avez pas accès aux occurrences de ce jeu de données.")


@tk.auth_allow_anonymous_access
def sinp_occurrence_export(context, data_dict):
    return sinp_occurrence_search(context, data_dict)


@tk.auth_allow_anonymous_access
def sinp_territory_taxa(context, data_dict):
    return {"success": True}


@tk.auth_allow_anonymous_access
def sinp_chef_de_file_list(context, data_dict):
    return {"success": True}


@tk.auth_allow_anonymous_access
def sinp_sensitivity_rule_list(context, data_dict):
    return {"success": True}


def sinp_chef_de_file_set(context, data_dict):
    return _sysadmin_only(context, "désigner les chefs de file")


def sinp_auto_validate(context, data_dict):
    return _sysadmin_only(context, "relancer la validation automatique")


def sinp_validation_set(context, data_dict):
    """Chefs de file (the action restricts the selection to their scope) and sysadmins."""

    user = _user(context)
    if user is not None and (user.sysadmin or access.chef_scopes(user)):
        return {"success": True}
    return {
        "success": False,
        "msg": "Seuls les chefs de file (dans leur périmètre) et les administrateurs de la "
        "plateforme valident des observations.",
    }


@tk.chained_auth_function
@tk.auth_allow_anonymous_access
def package_show(next_auth, context, data_dict):
    """CKAN's rule, plus: a member of a chef de file reads the private JDD whose occurrences fall in
    its scope, and their CA (active ones only: never drafts nor deleted records)."""
    result = next_auth(context, data_dict)
    if result.get("success"):
        return result

    user = _user(context)
    if user is None:
        return result
    pkg = context.get("package") or model.Package.get((data_dict or {}).get("id"))
    if access.is_chef_for_record(user, pkg):
        return {"success": True}
    return result


@tk.chained_auth_function
@tk.auth_allow_anonymous_access
def harvest_object_show(next_auth, context, data_dict):
    """ckanext-harvest lets everybody read a harvest object (the source document of a harvested
    record). Here: whoever may read the dataset it produced; an object without a dataset (failed,
    withdrawn before import) only to whoever may manage its harvest source."""
    from ckanext.harvest.model import HarvestObject  # deferred: ckanext-harvest's models load with its plugin

    dataset_id = data_dict.get("dataset_id")
    obj = HarvestObject.get(data_dict.get("id")) if data_dict.get("id") else None
    if obj is None and not dataset_id:
        return next_auth(context, data_dict)
    try:
        if dataset_id:  # the current object of a dataset
            tk.check_access("package_show", dict(context), {"id": dataset_id})
        elif obj.package_id:
            tk.check_access("package_show", dict(context), {"id": obj.package_id})
        else:
            tk.check_access("harvest_source_update", dict(context), {"id": obj.harvest_source_id})
    except (tk.NotAuthorized, tk.ObjectNotFound):
        return {"success": False, "msg": "Vous n'avez pas accès à ce document moissonné."}
    return next_auth(context, data_dict)


@tk.chained_auth_function
@tk.auth_allow_anonymous_access
def resource_show(next_auth, context, data_dict):
    """CKAN's rule, plus: the raw file of an occurrence deposit (precise localisations, private or
    sensitive data, free-text places) is only for the producer, the chefs de file covering the JDD
    and sysadmins. Everyone else gets the blurred exports of the JDD's occurrences."""
    result = next_auth(context, data_dict)
    if not result.get("success") or context.get("ignore_auth"):
        return result

    resource = context.get("resource") or model.Resource.get((data_dict or {}).get("id"))
    if resource is None or resource.package is None or resource.package.type != "jdd":
        return result
    facts = {"url_type": resource.url_type, "format": resource.format, "url": resource.url, "name": resource.name}
    if not jobs.is_deposit(facts, "jdd"):  # a deposit from the upload on, before its check is queued
        with model.meta.engine.connect() as conn:
            if store.get_deposit(conn, resource.id) is None:
                return result
    user = _user(context)
    if access.is_producer(user, resource.package) or access.is_chef_for_record(user, resource.package):
        return result
    return {
        "success": False,
        "msg": "Le fichier d'occurrences déposé est réservé au producteur, aux chefs de file de "
        "son périmètre et aux administrateurs : téléchargez les occurrences diffusables "
        "(CSV ou GeoJSON) depuis la page du jeu de données.",
    }


@tk.chained_auth_function
@tk.auth_allow_anonymous_access
def resource_view_list(next_auth, context, data_dict):
    """The views of a resource are listed on its dataset's page: whoever may read the dataset (the
    restriction of a deposit's raw file is on the file, ``resource_show``)."""

    resource = context.get("resource") or model.Resource.get((data_dict or {}).get("id"))
    if resource is None or resource.package is None or resource.package.type != "jdd":
        return next_auth(context, data_dict)
    return _may_read(context, resource.package_id, "Vous n'avez pas accès à ce jeu de données.")


def get_auth_functions():

    return harvest_guard.with_harvest_auth(
        {  # harvest sources and jobs: sysadmins only
            "sinp_mtd_import": sinp_mtd_import,
            "sinp_mtd_export": sinp_mtd_export,
            "sinp_iso_show": sinp_iso_show,
            "sinp_taxon_search": sinp_taxon_search,
            "sinp_qc_run": sinp_qc_run,
            "sinp_qc_report_show": sinp_qc_report_show,
            "sinp_occurrence_search": sinp_occurrence_search,
            "harvest_object_show": harvest_object_show,
            "sinp_occurrence_export": sinp_occurrence_export,
            "sinp_territory_taxa": sinp_territory_taxa,
            "sinp_chef_de_file_list": sinp_chef_de_file_list,
            "sinp_sensitivity_rule_list": sinp_sensitivity_rule_list,
            "sinp_chef_de_file_set": sinp_chef_de_file_set,
            "sinp_auto_validate": sinp_auto_validate,
            "sinp_validation_set": sinp_validation_set,
            "package_show": package_show,
            "resource_show": resource_show,
            "resource_view_list": resource_view_list,
        }
    )
