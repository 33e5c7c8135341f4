"""Who may read which records, as SQL over CKAN's ``package`` table, and what of a CA the outputs of
its JDD may show.

CKAN decides a reader one package at a time (``package_show``) or through Solr's permission labels;
the doors that list things across packages straight from the database (tags, an organisation's
members) need the same decision for many packages at once: ``readable_sql`` is it, set-wise.
"""

from __future__ import annotations

import ckan.model as model
import sqlalchemy as sa

from ckanext.sinp.logic import access, queries
from ckanext.sinp.occurrences import protection_store


def readable_sql(context, params: dict, alias: str = "p") -> str | None:
    """SQL true for a package (row ``alias`` of ``package``) that the caller may read: active and
    public; of one of the caller's organisations; an active CA/JDD that a chef de file of the
    caller reads (a JDD holding occurrences of its scope, and the CA of such a JDD). None when the
    caller reads everything (sysadmins, ``ignore_auth``). Fills ``params``."""
    user = access.user_of(context)
    if context.get("ignore_auth") or (user is not None and user.sysadmin):
        return None
    conds = [f"({alias}.state = 'active' AND NOT {alias}.private)"]
    orgs = access.user_org_ids(user)
    if orgs:
        params["vis_orgs"] = orgs
        conds.append(f"{alias}.owner_org = ANY(:vis_orgs)")
    scopes = list(access.chef_scopes(user).values()) if user is not None else []
    if scopes:
        in_scope = f"SELECT o.package_id FROM sinp_occurrence o WHERE {protection_store.scope_sql(scopes, params)}"
        conds.append(
            f"({alias}.state = 'active' AND ("
            f"({alias}.type = 'jdd' AND {alias}.id IN ({in_scope})) OR "
            f"({alias}.type = 'ca' AND {alias}.extras->>'sinp_uuid' IN (SELECT j.extras->>'cadre' FROM package j "
            f"WHERE j.type = 'jdd' AND j.state = 'active' AND j.id IN ({in_scope})))))"
        )
    return "(" + " OR ".join(conds) + ")"


def readable_package_ids(context, package_ids) -> set[str]:
    """Those of ``package_ids`` that the caller may read."""
    ids = sorted({i for i in package_ids if i})
    if not ids:
        return set()
    params: dict = {"ids": ids}
    where = readable_sql(context, params)
    sql = "SELECT p.id FROM package p WHERE p.id = ANY(:ids)" + (f" AND {where}" if where else "")
    return {r[0] for r in model.Session.execute(sa.text(sql), params)}


def _is_public(record) -> bool:
    get = record.get if isinstance(record, dict) else (lambda k: getattr(record, k, None))
    return get("state") == "active" and get("private") in (False, "false", "False")


def ca_shown_with(jdd: dict) -> dict | None:
    """The extras of a JDD's CA that the outputs of the JDD (ISO/CSW, DCAT, index, pages) may show,
    or None. A public JDD shows only a public, active CA: its readers (everybody) may not read a
    private one. A private JDD may also show an active private CA of the same organisation, whose
    readers (its members, the chefs de file of its JDD) are then at least the JDD's."""
    if jdd.get("type") != "jdd":
        return None
    for ca in queries.packages_by_extra(model, "sinp_uuid", jdd.get("cadre"), "ca"):
        if ca.state != "active":
            continue
        if _is_public(ca) or (not _is_public(jdd) and ca.owner_org and ca.owner_org == jdd.get("owner_org")):
            return dict(ca.extras or {})
    return None


def without_hidden_ca(jdd: dict, ca: dict | None = None) -> dict:
    """The record as its outputs show it: a JDD whose CA may not be shown (``ca_shown_with``) loses
    its link to it (``cadre``: ISO parentIdentifier, DCAT isPartOf)."""
    if jdd.get("type") != "jdd" or not jdd.get("cadre"):
        return jdd
    if ca is None:
        ca = ca_shown_with(jdd)
    return jdd if ca is not None else {**jdd, "cadre": None}
