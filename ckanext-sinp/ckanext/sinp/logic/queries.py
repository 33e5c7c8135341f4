"""Database look-ups shared by validators, actions and indexing.

CKAN 2.11+ keeps a package's extras in the JSONB column ``package.extras``;
``ckan sinp init-db`` indexes the keys looked up here.
"""

from __future__ import annotations

from sqlalchemy import text

INDEXED_EXTRAS = ("sinp_uuid", "cadre", "meta_cadre_parent")


def _by_extra(model, key, value, dataset_type=None):
    query = (
        model.Session.query(model.Package)
        .filter(model.Package.extras[key].astext == value)
        .filter(model.Package.state != "deleted")
    )
    if dataset_type:
        query = query.filter(model.Package.type == dataset_type)
    return query


def packages_by_extra(model, key, value, dataset_type=None) -> list:
    """Packages (private included, deleted excluded) whose extra ``key`` equals ``value``."""
    if not value:
        return []
    return _by_extra(model, key, value, dataset_type).all()


def packages_by_uuid(model, uuids, chunk: int = 1000) -> dict:
    """{SINP UUID: [packages]} (private included, deleted excluded) for many UUIDs at once."""
    found: dict = {}
    uuids = sorted({u for u in uuids if u})
    column = model.Package.extras["sinp_uuid"].astext
    for start in range(0, len(uuids), chunk):
        query = (
            model.Session.query(model.Package)
            .filter(column.in_(uuids[start : start + chunk]))
            .filter(model.Package.state != "deleted")
        )
        for pkg in query:
            found.setdefault(pkg.extras.get("sinp_uuid"), []).append(pkg)
    return found


def count_children(model, uuid, child_type, link_field) -> int:
    """Packages of ``child_type`` whose ``link_field`` is ``uuid`` (private included, deleted excluded)."""
    if not uuid:
        return 0
    return _by_extra(model, link_field, uuid, child_type).count()


def extras_of_uuid(model, uuid, dataset_type) -> dict | None:
    """The extras of the package of ``dataset_type`` whose SINP UUID is ``uuid``."""
    if not uuid:
        return None
    pkg = _by_extra(model, "sinp_uuid", uuid, dataset_type).first()
    return dict(pkg.extras) if pkg is not None else None


def create_indexes(connection) -> None:
    """Expression indexes on the extras that the look-ups above filter on (idempotent)."""

    for key in INDEXED_EXTRAS:
        connection.execute(text(f"CREATE INDEX IF NOT EXISTS sinp_package_{key}_idx ON package ((extras->>'{key}'))"))
