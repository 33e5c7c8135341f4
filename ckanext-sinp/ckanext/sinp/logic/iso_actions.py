"""Action ``sinp_iso_show``: the ISO 19139 / INSPIRE record of a CA or JDD, as CSW serves it."""

from __future__ import annotations

import ckan.plugins.toolkit as tk

from ckanext.sinp.csw import sync
from ckanext.sinp.domain import iso
from ckanext.sinp.logic import inputs, visibility
from ckanext.sinp.logic.mtd_actions import resolve


@tk.side_effect_free
def sinp_iso_show(context, data_dict):
    """The record ``id`` (package id or name, or SINP UUID) as an ISO 19139 document (text).

    Same access rules as ``package_show``: a private record only for those who may read it.
    """

    ref = resolve(context, inputs.identifier(data_dict, "id"))
    pkg = tk.get_action("package_show")(context, {"id": ref})
    if pkg.get("type") not in ("ca", "jdd"):
        raise tk.ValidationError({"id": ["Seuls les cadres d'acquisition et jeux de données ont une fiche ISO 19139."]})
    ctx = sync.context_for(pkg)
    return iso.to_iso19139(pkg["type"], visibility.without_hidden_ca(pkg, ctx.ca), ctx).decode("utf-8")
