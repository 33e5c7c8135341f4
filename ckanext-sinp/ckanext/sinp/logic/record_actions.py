"""Actions on the life of a CA or JDD that CKAN's own actions do not know: a CA with children
cannot be deleted; purging a record takes its CSW row and its occurrences with it."""

from __future__ import annotations

import ckan.plugins.toolkit as tk

from ckanext.sinp import jobs
from ckanext.sinp.csw import sync
from ckanext.sinp.logic import oracles, queries


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
