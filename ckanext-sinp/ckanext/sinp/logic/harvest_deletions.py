"""ckanext-harvest's purges reach the CSW in the same request.

``harvest_source_clear`` (also run by ``harvest_source_delete`` with ``clear_source`` and by
``ckan harvester clearsource``) deletes the source's packages with raw SQL: no IPackageController
event, no ORM flush, so neither the outbox nor ``csw.sync``'s session hook sees them. This chained
action notes the SINP UUIDs of the records it is about to purge and, once it returns, deletes the
CSW rows of those that no public record holds any more (``sync.remove_orphans``). Any other purge
behind CKAN's back is caught by the scheduler's orphan sweep.
"""

from __future__ import annotations

import logging

import ckan.model as model
import ckan.plugins.toolkit as tk
import sqlalchemy as sa

from ckanext.harvest.model import HarvestObject, HarvestSource
from ckanext.sinp.csw import sync

log = logging.getLogger(__name__)


def _uuids_purged_by_clear(source_id: str | None) -> set[str]:
    """SINP UUIDs of the packages that ``harvest_source_clear`` deletes: those of the source's
    harvest objects, and any package left in the state ``to_delete`` (its SQL purges them all)."""
    if not source_id:
        return set()
    package = model.Package.__table__
    objects = sa.select(HarvestObject.package_id).where(HarvestObject.harvest_source_id == source_id)
    query = sa.select(package.c.extras).where(
        package.c.extras["sinp_uuid"].astext.isnot(None),
        sa.or_(package.c.state == "to_delete", package.c.id.in_(objects.scalar_subquery())),
    )
    with model.meta.engine.connect() as conn:
        # a harvested record's row may carry the source's own identifier (``iso.csw_identifier``)
        return set().union(*(sync.identifiers_of(r[0] or {}) for r in conn.execute(query)))


def _source_id(data_dict) -> str | None:
    source = HarvestSource.get((data_dict or {}).get("id"))
    return source.id if source is not None else None


@tk.chained_action
def harvest_source_clear(original_action, context, data_dict):
    """ckanext-harvest's clear, then the CSW rows of the records it purged are deleted at once."""
    uuids = _uuids_purged_by_clear(_source_id(data_dict))
    try:
        return original_action(context, data_dict)
    finally:
        if uuids:  # only rows that no public record holds: safe even if the clear failed half-way
            try:
                sync.remove_orphans(uuids)
            except Exception:  # the scheduler's orphan sweep removes them a little later
                log.exception("CSW : fiches de la source moissonnée vidée non retirées (le balayage le fera)")


def get_actions() -> dict:
    return {"harvest_source_clear": harvest_source_clear}
