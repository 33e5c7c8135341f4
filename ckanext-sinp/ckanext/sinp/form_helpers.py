"""Template helpers of the CA and JDD forms: ordered choices, the méta-cadre picker, the names of the
taxa already chosen and the structures suggested for the actors (``all_helpers``, merged by
``helpers.get_helpers``)."""

from __future__ import annotations

import ckan.model as model
import ckan.plugins.toolkit as tk
from ckan.lib.search.common import SearchError
from sqlalchemy.exc import SQLAlchemyError

from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.domain import nomenclatures
from ckanext.sinp.referentials import taxref_store

all_helpers = {}


def helper(func):
    all_helpers[func.__name__] = func
    return func


# The territories a producer of a regional platform of metropolitan France picks first.
FIRST_TERRITORIES = ("METROP",)
# A form names at most this many taxa (a pasted list of thousands of codes costs no more).
MAX_NAMED_TAXA = 200


@helper
def sinp_territory_choices(field):
    """The TERRITOIRE nomenclature, Métropole first, then the others in alphabetical order."""
    choices = nomenclatures.get("TERRITOIRE").choices()
    first = [c for code in FIRST_TERRITORIES for c in choices if c["value"] == code]
    rest = sorted((c for c in choices if c["value"] not in FIRST_TERRITORIES), key=lambda c: c["label"].casefold())
    return first + rest


def _user():
    return tk.g.user if tk.g else None


@helper
def sinp_meta_cadre_choices(field):
    """The méta-cadres a CA may belong to: those the current user may read (the same rule as the
    validator of ``meta_cadre_parent``), the user's own structures first. An empty first choice:
    nothing is pre-selected. Groups: [{"label", "choices": [{"value", "label"}]}]."""
    user = _user()
    try:
        result = tk.get_action("package_search")(
            {"user": user},
            {
                "fq": "dataset_type:ca",
                "include_private": True,
                "rows": 1000,
                "sort": "title_string asc",
            },
        )
        own = (
            {
                o["id"]
                for o in tk.get_action("organization_list_for_user")({"user": user}, {"permission": "create_dataset"})
            }
            if user
            else set()
        )
    except (SearchError, tk.ValidationError, tk.NotAuthorized):
        result, own = {"results": []}, set()
    cas = [d for d in result["results"] if d.get("sinp_uuid") and str(d.get("est_meta_cadre")).lower() == "true"]

    def choice(d, with_org):
        org = (d.get("organization") or {}).get("title") or ""
        label = f"{d.get('title')} — {org}" if with_org and org else d.get("title")
        return {"value": d["sinp_uuid"], "label": label}

    return [
        {"label": "De votre structure", "choices": [choice(d, False) for d in cas if d.get("owner_org") in own]},
        {"label": "D'autres structures", "choices": [choice(d, True) for d in cas if d.get("owner_org") not in own]},
    ]


@helper
def sinp_taxon_choices(value) -> list[dict]:
    """The codes of a taxon field (list or comma-separated text) with their TAXREF names:
    [{"value": "60418", "label": "Myotis myotis (Borkhausen, 1797) — 60418"}]; a code unknown to
    TAXREF (e.g. a HABREF code) keeps the code alone."""
    codes = [str(c).strip() for c in sinp_model.as_list(value) if str(c).strip()][:MAX_NAMED_TAXA]
    out = []
    try:
        with model.meta.engine.connect() as conn:
            for code in codes:
                taxon = taxref_store.get_taxon(conn, int(code)) if code.isdigit() else None
                name = (taxon or {}).get("nom_complet")
                out.append({"value": code, "label": f"{name} — {code}" if name else code})
    except SQLAlchemyError:  # TAXREF not loaded: the codes alone
        out = [{"value": code, "label": code} for code in codes]
    return out


@helper
def sinp_organisme_suggestions() -> list[str]:
    """Names offered to the « Organisme » of an actor: the structures of the platform (CKAN
    organisations), in alphabetical order."""
    try:
        orgs = tk.get_action("organization_list")({"user": _user()}, {"all_fields": True, "limit": 1000})
    except (tk.NotAuthorized, tk.ValidationError):
        return []
    return sorted({o.get("title") or o.get("name") for o in orgs}, key=str.casefold)
