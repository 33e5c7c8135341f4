"""Authorisation functions of the SINP actions (same names as the actions)."""
from __future__ import annotations

import ckan.plugins.toolkit as tk


def sinp_mtd_import(context, data_dict):
    """Importing creates records in ``owner_org``: allowed to whoever may create datasets there."""
    try:
        tk.check_access("package_create", context, {"owner_org": data_dict.get("owner_org")})
    except tk.NotAuthorized:
        return {"success": False,
                "msg": "Vous ne pouvez pas créer de fiches pour cette structure productrice."}
    return {"success": True}


@tk.auth_allow_anonymous_access
def sinp_mtd_export(context, data_dict):
    """Exporting a record shows it: allowed to whoever may read it."""
    try:
        tk.check_access("package_show", context, {"id": data_dict.get("id")})
    except tk.NotAuthorized:
        return {"success": False, "msg": "Vous n'avez pas accès à cet enregistrement."}
    return {"success": True}


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
        return {"success": False, "msg": f"Seuls le producteur du jeu de données et les administrateurs de la "
                                         f"plateforme peuvent {what}."}
    return {"success": True}


def sinp_qc_run(context, data_dict):
    return _may_edit_jdd(context, data_dict, "relancer le contrôle d'un dépôt")


def sinp_qc_report_show(context, data_dict):
    return _may_edit_jdd(context, data_dict, "consulter le rapport de contrôle d'un dépôt")


def sinp_occurrence_search(context, data_dict):
    """Occurrences may be sensitive until the sensitivity rules run: producers and admins only."""
    return _may_edit_jdd(context, data_dict, "consulter les occurrences déposées")


def get_auth_functions():
    return {
        "sinp_mtd_import": sinp_mtd_import,
        "sinp_mtd_export": sinp_mtd_export,
        "sinp_iso_show": sinp_iso_show,
        "sinp_taxon_search": sinp_taxon_search,
        "sinp_qc_run": sinp_qc_run,
        "sinp_qc_report_show": sinp_qc_report_show,
        "sinp_occurrence_search": sinp_occurrence_search,
    }
