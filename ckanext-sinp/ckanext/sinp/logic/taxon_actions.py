"""Action ``sinp_taxon_search``: the TAXREF referential loaded in the database."""

from __future__ import annotations

import ckan.plugins.toolkit as tk

from ckanext.sinp.logic import inputs
from ckanext.sinp.referentials import taxref_store as store


@tk.side_effect_free
def sinp_taxon_search(context, data_dict):
    """Taxa whose scientific or French name starts with the words of ``q`` (or whose CD_NOM is ``q``).

    :param q: text (at least 2 letters) or a CD_NOM
    :param limit: 1 to 100 (default 20)
    :returns: list of {cd_nom, cd_ref, nom_complet, nom_valide, nom_vern, rang, group2_inpn, ...},
        valid names first
    """
    tk.check_access("sinp_taxon_search", context, data_dict)
    q = inputs.text(data_dict, "q", "").strip()
    if len(q) > 200:
        raise tk.ValidationError({"q": ["La recherche est limitée à 200 caractères."]})
    limit = inputs.integer(data_dict, "limit", 20, 1, 100)
    model = context["model"]
    with model.meta.engine.connect() as conn:
        return store.search_taxa(conn, q, limit)
