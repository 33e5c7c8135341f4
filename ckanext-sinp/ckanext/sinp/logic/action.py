"""Actions of the SINP plugin, and the CKAN actions it extends."""

from __future__ import annotations

import ckan.plugins.toolkit as tk

from ckanext.sinp import jobs
from ckanext.sinp.csw import sync
from ckanext.sinp.logic import (
    iso_actions,
    mtd_actions,
    occurrence_actions,
    oracles,
    protection_actions,
    queries,
    taxon_actions,
    visibility_actions,
)
from ckanext.sinp.logic.strict_actions import with_input_guards


@tk.chained_action
def package_delete(original_action, context, data_dict):
    """A cadre d'acquisition that still has jeux de données (or child cadres) cannot be deleted.
    Who may not even read the record gets the 404 of an unknown id (``oracles``)."""

    if (data_dict or {}).get("id"):
        oracles.require_readable(context, data_dict["id"])
        # a reader who may not delete learns nothing of the CA's (possibly private) children
        tk.check_access("package_delete", dict(context), {"id": data_dict["id"]})
    _refuse_if_ca_has_children(context, data_dict)
    return original_action(context, data_dict)


@tk.chained_action
def dataset_purge(original_action, context, data_dict):
    _refuse_if_ca_has_children(context, data_dict)
    pkg = context["model"].Package.get(tk.get_or_bust(data_dict, "id"))
    if pkg is not None and pkg.type in ("ca", "jdd"):
        sync.mark(pkg.id, (pkg.extras or {}).get("sinp_uuid"))  # its CSW row goes after the commit
    if pkg is not None and pkg.type == "jdd":
        jobs.delete_package(pkg.id)  # its occurrences go in the same transaction
    return original_action(context, data_dict)


def _refuse_if_ca_has_children(context, data_dict):
    model = context["model"]
    pkg = model.Package.get(tk.get_or_bust(data_dict, "id"))
    if pkg is None or pkg.type != "ca":
        return
    uuid = pkg.extras.get("sinp_uuid")
    jdd = queries.count_children(model, uuid, "jdd", "cadre")
    cas = queries.count_children(model, uuid, "ca", "meta_cadre_parent")
    messages = []
    if jdd:
        messages.append(
            f"Ce cadre d'acquisition a encore {jdd} jeu{'x' if jdd > 1 else ''} de données : supprimez-les "
            "ou rattachez-les à un autre cadre avant de le supprimer."
        )
    if cas:
        messages.append(
            f"Ce méta-cadre regroupe encore {cas} cadre{'s' if cas > 1 else ''} d'acquisition : "
            "détachez-les avant de le supprimer."
        )
    if messages:
        raise tk.ValidationError({"id": messages})


def get_actions():

    return with_input_guards(
        {  # strict inputs: sinp_* and the chained core actions (logic/inputs.py)
            **oracles.get_actions(),  # package_show, resource_show…: « absent » and « forbidden » alike
            **visibility_actions.get_actions(),  # tags, member_list, activity_diff: what the caller may read
            "package_delete": package_delete,
            "dataset_purge": dataset_purge,
            "sinp_mtd_import": mtd_actions.sinp_mtd_import,
            "sinp_mtd_export": mtd_actions.sinp_mtd_export,
            "sinp_taxon_search": taxon_actions.sinp_taxon_search,
            "sinp_iso_show": iso_actions.sinp_iso_show,
            "sinp_qc_run": occurrence_actions.sinp_qc_run,
            "sinp_qc_report_show": occurrence_actions.sinp_qc_report_show,
            "sinp_occurrence_search": occurrence_actions.sinp_occurrence_search,
            "sinp_occurrence_stats": occurrence_actions.sinp_occurrence_stats,
            "sinp_jdd_apply_extent": occurrence_actions.sinp_jdd_apply_extent,
            "sinp_chef_de_file_set": protection_actions.sinp_chef_de_file_set,
            "sinp_chef_de_file_delete": protection_actions.sinp_chef_de_file_delete,
            "sinp_chef_de_file_list": protection_actions.sinp_chef_de_file_list,
            "sinp_validation_set": protection_actions.sinp_validation_set,
            "sinp_validation_history": protection_actions.sinp_validation_history,
            "sinp_auto_validate": protection_actions.sinp_auto_validate,
            "sinp_sensitivity_rule_list": protection_actions.sinp_sensitivity_rule_list,
            "sinp_sensitivity_set": protection_actions.sinp_sensitivity_set,
            "sinp_territory_taxa": protection_actions.sinp_territory_taxa,
            "sinp_notification_list": protection_actions.sinp_notification_list,
        }
    )
