"""The registry of the plugin's actions: every ``sinp_*`` action and every CKAN action it chains,
wrapped by the strict input guards (``strict_actions``)."""

from __future__ import annotations

from ckanext.sinp import dcat_profile
from ckanext.sinp.logic import (
    iso_actions,
    mtd_actions,
    occurrence_actions,
    oracles,
    protection_actions,
    record_actions,
    taxon_actions,
    visibility_actions,
)
from ckanext.sinp.logic.strict_actions import with_input_guards


def get_actions():
    return with_input_guards(
        {  # strict inputs: sinp_* and the chained core actions (logic/inputs.py)
            **oracles.get_actions(),  # package_show, resource_show…: « absent » and « forbidden » alike
            **visibility_actions.get_actions(),  # tags, member_list, activity_diff: what the caller may read
            **dcat_profile.get_actions(),  # /catalog.*: without the records that are not republished
            "package_delete": record_actions.package_delete,
            "dataset_purge": record_actions.dataset_purge,
            "sinp_mtd_import": mtd_actions.sinp_mtd_import,
            "sinp_mtd_export": mtd_actions.sinp_mtd_export,
            "sinp_taxon_search": taxon_actions.sinp_taxon_search,
            "sinp_iso_show": iso_actions.sinp_iso_show,
            "sinp_qc_run": occurrence_actions.sinp_qc_run,
            "sinp_qc_report_show": occurrence_actions.sinp_qc_report_show,
            "sinp_occurrence_search": occurrence_actions.sinp_occurrence_search,
            "sinp_occurrence_stats": occurrence_actions.sinp_occurrence_stats,
            "sinp_occurrence_map": occurrence_actions.sinp_occurrence_map,
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
