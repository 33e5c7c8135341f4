"""Who may see what of the occurrence store: the caller's ``store.Access`` and the chef de file
extensions of CKAN's dataset permissions (thin glue over ``occurrences/protection_store.py``)."""

from __future__ import annotations

import ckan.model as model
import sqlalchemy as sa

from ckanext.sinp.logic import queries
from ckanext.sinp.occurrences import map_store, protection_store, store


def user_of(context):
    user = context.get("auth_user_obj")
    if user is None and context.get("user"):
        user = model.User.get(context["user"])
    return user if user is not None and getattr(user, "is_authenticated", True) and getattr(user, "id", None) else None


def user_org_ids(user) -> list[str]:
    """Organisations the user belongs to, in any capacity (member, editor, admin)."""
    if user is None:
        return []
    return [g.id for g in user.get_groups("organization")]


def chef_scopes(user) -> dict:
    """The chef de file scopes the user acts in (organisation id → Scope)."""
    orgs = user_org_ids(user)
    if not orgs:
        return {}
    with model.meta.engine.connect() as conn:
        return protection_store.chefs(conn, orgs)


def active_jdd_ids(package_ids: list[str] | None = None, published: bool = False) -> list[str]:
    """Active JDD (never drafts nor deleted): those a chef de file may read in its scope, or with
    ``published`` those whose occurrences the public may see (blurred)."""
    sql = map_store.PUBLISHED_JDD_SQL if published else map_store.ACTIVE_JDD_SQL  # the maps' rule, one statement
    if model.Session.autoflush:  # as an ORM query would: this transaction's pending changes count
        model.Session.flush()
    if package_ids is None:
        return [r[0] for r in model.Session.execute(sa.text(f"SELECT id FROM ({sql}) AS j"))]
    return [
        r[0]
        for r in model.Session.execute(
            sa.text(f"SELECT id FROM ({sql}) AS j WHERE id = ANY(:ids)"), {"ids": list(package_ids)}
        )
    ]


def access_for(context, package_ids: list[str] | None = None) -> store.Access:
    user = user_of(context)
    if context.get("ignore_auth") or (user is not None and user.sysadmin):
        return store.Access(full=True)
    scopes = list(chef_scopes(user).values())
    return store.Access(
        orgs=user_org_ids(user),
        scopes=scopes,
        public_package_ids=active_jdd_ids(package_ids, published=True),
        scope_package_ids=active_jdd_ids(package_ids) if scopes else (),
    )


def jdd_ids_of_record(pkg) -> list[str]:
    """The JDD a record stands for in a chef de file's scope: itself, or the active JDD of a CA."""
    if pkg.type == "jdd":
        return [pkg.id]
    if pkg.type == "ca":
        uuid = (pkg.extras or {}).get("sinp_uuid")
        return [p.id for p in queries.packages_by_extra(model, "cadre", uuid, "jdd") if p.state == "active"]
    return []


def chefs_covering_record(pkg) -> list[str]:
    """Chef de file organisations whose scope holds occurrences of the record (a JDD, or a JDD of a CA)."""
    out: set[str] = set()
    with model.meta.engine.connect() as conn:
        if not sa.inspect(conn).has_table("sinp_chef_de_file"):
            return []
        for package_id in jdd_ids_of_record(pkg):
            out.update(protection_store.chefs_covering_package(conn, package_id))
    return sorted(out)


def is_chef_for_record(user, pkg) -> bool:
    """An active private CA or JDD is readable by the chefs de file whose scope its occurrences meet."""
    if pkg is None or pkg.state != "active" or pkg.type not in ("ca", "jdd"):
        return False
    scopes = chef_scopes(user)
    return bool(scopes) and bool(set(chefs_covering_record(pkg)) & set(scopes))


def is_producer(user, pkg) -> bool:
    return user is not None and (user.sysadmin or (pkg.owner_org and pkg.owner_org in user_org_ids(user)))
