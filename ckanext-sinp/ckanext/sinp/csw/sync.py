"""Keeps the pycsw table in step with CKAN: one row per public, active CA/JDD, and one per service
of the data flows (WMS, WFS, OGC API Features: ``domain.iso_service``) whose ``operatesOn`` names the
public JDD they serve (``sync_services``, run after each sync, each withdrawal and each rebuild).

A CKAN transaction that touches CA/JDD records a ``csw_sync`` task per touched id in the outbox
(``outbox.runner``, same transaction); after the commit a background job (``sync_packages``) that renders the ISO 19139 record (ckanext.sinp.domain.iso) and upserts
the row, or deletes it when the record is private, draft or deleted. ``ckan sinp csw-sync``
(``rebuild``) recomputes the whole table and reports the differences.

Private, draft and deleted records are never written: the table holds only what the public may
see, so pycsw needs no access control and its counts are exact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import ckan.model as model
import ckan.plugins.toolkit as tk
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from ckanext.sinp import settings
from ckanext.sinp.csw import repository
from ckanext.sinp.domain import flux_services, iso, iso_service, protection
from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.logic import queries, visibility
from ckanext.sinp.occurrences import protection_store
from ckanext.sinp.outbox import runner

log = logging.getLogger(__name__)

TASK = "csw_sync"


# --- what triggers a sync -------------------------------------------------------------------


def mark(package_id: str, uuid: str | None = None) -> None:
    """Records, in the current transaction, that ``package_id`` (SINP UUID ``uuid`` if known) changed:
    its row is rewritten once the transaction has committed (``outbox``: nothing is lost when Redis
    is down, the scheduler hands the task over later)."""
    runner.defer(TASK, package_id, {"uuid": uuid})


def _run(items: list[tuple[str, dict]]) -> None:
    ids = [key for key, _args in items]
    sync_packages(ids, known_uuids={key: args["uuid"] for key, args in items if args.get("uuid")})


def register_tasks() -> None:
    runner.register(runner.Task(TASK, _run, "Synchronisation CSW"))


# --- rendering --------------------------------------------------------------------------------


def _utc(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value).replace("Z", "")).replace(tzinfo=None)


def _site_user() -> str:
    return tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"]


def _show(package_id: str) -> dict | None:
    try:
        return tk.get_action("package_show")({"user": _site_user(), "ignore_auth": True}, {"id": package_id})
    except tk.ObjectNotFound:
        return None


def is_public(pkg: dict | None) -> bool:
    """Served by our CSW: a public, active CA/JDD, unless harvested from a source that says
    ``"republish": false`` (``iso.republished``)."""
    return (
        bool(pkg)
        and pkg.get("type") in sinp_model.KINDS
        and pkg.get("state") == "active"
        and not pkg.get("private")
        and iso.republished(pkg)
    )


def _observed(package):
    """SQL: the package has public observations in the flows' layer ``observations_maille`` (counts
    of ``occurrences.map_store``, exact in every writing transaction: diffusion at the maille or finer)."""
    counts = sa.table("sinp_carte_agg", sa.column("package_id"), sa.column("public_layer"), sa.column("maille"))
    counts = counts.alias("a")
    return sa.exists().where(
        counts.c.package_id == package.c.id, counts.c.public_layer <= protection.MAILLE, counts.c.maille != ""
    )


def _has_counts(conn) -> bool:
    return bool(conn.execute(sa.text("SELECT to_regclass('sinp_carte_agg') IS NOT NULL")).scalar())


def is_served(pkg: dict | None) -> bool:
    """A JDD the data flows serve: one of our own (not harvested), public, with public observations in
    the flows (``served_jdd``'s rule for one record). Its ISO record links to the flows, its DCAT
    has a distribution per service."""
    if not (is_public(pkg) and pkg.get("type") == "jdd" and iso.origin_of(pkg) is None):
        return False
    package = model.Package.__table__
    with model.meta.engine.connect() as conn:
        if not _has_counts(conn):
            return False
        return bool(conn.execute(sa.select(_observed(package)).where(package.c.id == pkg["id"])).scalar())


def _origin_sql(package):
    """``origine_iso`` of a package row as jsonb (stored as JSON text in an extra; empty or absent,
    NULL, for our own records)."""
    return sa.cast(sa.func.nullif(sa.func.btrim(package.c.extras["origine_iso"].astext), ""), JSONB)


def csw_identifier_sql(package):
    """SQL twin of ``iso.csw_identifier``: the identifier of a package's row in the CSW table (the
    source's own fileIdentifier for a republished harvested record, the SINP UUID otherwise)."""
    origin = _origin_sql(package)
    return sa.func.coalesce(
        sa.func.nullif(sa.func.btrim(origin["identifiant"].astext), ""), package.c.extras["sinp_uuid"].astext
    )


def _republished_sql(package):
    """SQL twin of ``iso.republished``."""
    return sa.func.coalesce(_origin_sql(package)["republier"].astext, "true") != "false"


def _search_public(fq: str) -> list[dict]:
    result = tk.get_action("package_search")({"ignore_auth": True}, {"fq": fq, "rows": 1000, "include_private": False})
    return result["results"]


def _is_meta(ca: dict) -> bool:
    try:
        return sinp_model.parse_boolean(ca.get("est_meta_cadre"))
    except (TypeError, ValueError):
        return False


def _public_jdd_of(ca: dict) -> list[dict]:
    """The public JDD under a CA; under a méta-cadre, those of its child CAs too."""
    uuids = [ca.get("sinp_uuid")]
    if _is_meta(ca):
        uuids += [
            c.get("sinp_uuid") for c in _search_public(f'dataset_type:ca AND meta_cadre_parent:"{ca.get("sinp_uuid")}"')
        ]
    cadres = " OR ".join(f'"{u}"' for u in uuids if u)
    return _search_public(f"dataset_type:jdd AND cadre:({cadres})") if cadres else []


def context_for(pkg: dict) -> iso.IsoContext:
    config = tk.config
    ca = None
    bbox = None
    if pkg["type"] == "jdd":
        ca = visibility.ca_shown_with(pkg)  # a public JDD never shows a private CA's fields
    else:
        boxes = [
            sinp_model.bbox_geometry(j)
            and tuple(sinp_model.parse_decimal(j[k]) for k in ("borne_ouest", "borne_sud", "borne_est", "borne_nord"))
            for j in _public_jdd_of(pkg)
        ]
        boxes = [b for b in boxes if b]
        if boxes:  # a CA has no extent of its own: the union of its public JDD's
            bbox = (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
    organization = pkg.get("organization") or {}
    resources = [
        {
            "name": r.get("name") or r.get("url"),
            "url": r.get("url"),
            "format": r.get("format"),
            "description": r.get("description"),
        }
        for r in pkg.get("resources", [])
        if r.get("url")
    ]
    licence = (
        {
            "id": pkg.get("license_id"),
            "title": pkg.get("license_title") or pkg.get("license_id"),
            "url": pkg.get("license_url"),
        }
        if pkg.get("license_id")
        else dict(iso.DEFAULT_LICENCE)
    )
    return iso.IsoContext(
        site_url=config.get("ckan.site_url"),
        flux_url=settings.flux_public_url() if is_served(pkg) else None,
        csw_url=settings.csw_url(),
        date_stamp=_utc(pkg["metadata_modified"]),
        organization={"title": organization.get("title"), "email": None},
        platform_contact=settings.csw_contact(),
        ca=ca,
        resources=resources,
        licence=licence,
        bbox=bbox,
        resource_schemes=settings.resource_url_schemes(),
    )


def render(pkg: dict, ctx: iso.IsoContext | None = None) -> dict:
    """The pycsw row of a public CA/JDD."""
    ctx = ctx or context_for(pkg)
    record = visibility.without_hidden_ca(pkg, ctx.ca)
    xml = iso.to_iso19139(pkg["type"], record, ctx)
    return repository.csw_row(pkg["type"], record, ctx, xml)


def _stamp_of(value) -> dt.datetime | None:
    try:
        return _utc(value) if value else None
    except ValueError:
        return None


def next_row(pkg: dict, current: tuple | None, now: dt.datetime | None = None) -> dict | None:
    """The row to write for a public ``pkg`` given the ``current`` (xml, date_modified) row.

    None when the published document would not change. Otherwise its dateStamp is the record's
    ``metadata_modified``, moved forward when needed so that it is later than the current row's
    by at least one second: GeoNetwork compares dateStamps to the second and fetches only
    records whose remote date is newer, and a record also changes without its own
    ``metadata_modified`` moving (a CA's extent follows its JDD; two edits in the same second).
    """
    ctx = context_for(pkg)
    if current is None:
        return render(pkg, ctx)
    current_xml, current_stamp = current
    previous = _stamp_of(current_stamp)
    if previous is not None:
        unchanged = render(pkg, dataclasses.replace(ctx, date_stamp=previous))
        if unchanged[repository.column_names()["pycsw:XML"]] == current_xml:
            return None
        now = (now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).replace(microsecond=0)
        stamp = max(ctx.date_stamp, previous + dt.timedelta(seconds=1))
        if stamp <= previous + dt.timedelta(seconds=1):
            stamp = max(stamp, now)  # changed through another record: it changed now
        ctx = dataclasses.replace(ctx, date_stamp=stamp)
    return render(pkg, ctx)


def _current_row(conn, uuid: str, lock: bool = False) -> tuple | None:
    table = repository.get_table()
    cols = repository.column_names()
    query = sa.select(table.c[cols["pycsw:XML"]], table.c[cols["pycsw:Modified"]]).where(
        table.c[cols["pycsw:Identifier"]] == uuid
    )
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return tuple(row) if row is not None else None


# --- writing ----------------------------------------------------------------------------------


def _related(pkg: dict) -> list[str]:
    """Records whose ISO document shows something of ``pkg``: a JDD's CA (its extent), a CA's JDD
    (their temporal extent), a CA's méta-cadre (its extent covers the CA's JDD)."""
    if pkg.get("type") == "jdd":
        ca = queries.packages_by_extra(model, "sinp_uuid", pkg.get("cadre"), "ca")
        return [p.id for p in ca]
    if pkg.get("type") == "ca":
        related = [p.id for p in queries.packages_by_extra(model, "cadre", pkg.get("sinp_uuid"), "jdd")]
        if pkg.get("meta_cadre_parent"):
            related += [p.id for p in queries.packages_by_extra(model, "sinp_uuid", pkg["meta_cadre_parent"], "ca")]
        return related
    return []


def sync_packages(package_ids: list[str], follow_related: bool = True, known_uuids: dict | None = None) -> dict:
    """Upserts or deletes the CSW rows of ``package_ids`` (a background job).

    ``known_uuids`` gives the SINP UUID of packages that may no longer exist (purged)."""
    known_uuids = known_uuids or {}
    written = deleted = 0
    todo = list(dict.fromkeys(package_ids))
    seen = set()
    engine = model.meta.engine
    while todo:
        package_id = todo.pop(0)
        if package_id in seen:
            continue
        seen.add(package_id)
        pkg = _show(package_id)
        if pkg and follow_related:
            todo += [p for p in _related(pkg) if p not in seen]
        with engine.begin() as conn:
            if is_public(pkg):
                identifier = iso.csw_identifier(pkg)
                row = next_row(pkg, _current_row(conn, identifier, lock=True))
                if row is not None:
                    repository.upsert_record(conn, row)
                    written += 1
                    # deleted or purged since package_show read it (its own hook found no row yet):
                    # the row goes again, in this transaction
                    deleted += len(_delete_rows(conn, [identifier]))
            else:
                identifiers = identifiers_of(pkg) if pkg else set()
                identifiers.add(known_uuids.get(package_id) or _uuid_of_row(conn, package_id))
                for identifier in sorted(i for i in identifiers if i):
                    deleted += repository.delete_record(conn, identifier)
        if not todo and follow_related:
            with engine.begin() as conn:
                services = sync_services(conn)
                written += len(services["written"])
                todo += [p for p in _packages_of(conn, services["changed_jdd"]) if p not in seen]
    model.Session.remove()
    return {"written": written, "deleted": deleted}


# --- deletions: the row goes with the record ----------------------------------------------------
#
# A record that stops being public (deleted, purged, made private) loses its row **in the
# transaction that changes it** (``install_session_hooks``): nothing waits for a worker, and a
# rollback keeps the row. What CKAN does without its ORM — ckanext-harvest's
# ``harvest_source_clear`` deletes packages with raw SQL — is caught after it returns
# (``logic/harvest_deletions.py``), and whatever else purges rows behind CKAN's back by the
# scheduler's orphan sweep (``remove_orphans``, every ``ckanext.sinp.scheduler.csw_orphans_every``
# seconds). The outbox task still follows each change: it re-renders the records that show
# something of the one that went (a CA's extent).


def _public_package_exists(identifier_column):
    """EXISTS (a public, active CA/JDD served by the CSW whose identifier is the row's)."""
    package = model.Package.__table__
    return sa.exists().where(
        # the identifier column is in collation "C" (byte order paging): compare in it
        sa.collate(csw_identifier_sql(package), "C") == identifier_column,
        package.c.type.in_(sinp_model.KINDS),
        package.c.state == "active",
        package.c.private.is_(False),
        _republished_sql(package),
    )


def _delete_rows(conn, identifiers=None, orphans_only: bool = True) -> list[tuple[str, str | None]]:
    """Deletes the rows of ``identifiers`` (all rows when None) — only those of no public record
    when ``orphans_only`` — in ``conn``'s transaction; returns their (identifier, parent identifier)."""
    table = repository.get_table()
    cols = repository.column_names()
    ident = table.c[cols["pycsw:Identifier"]]
    stmt = table.delete().returning(ident, table.c[cols["pycsw:ParentIdentifier"]])
    if identifiers is not None:
        identifiers = sorted({i for i in identifiers if i})
        if not identifiers:
            return []
        stmt = stmt.where(ident.in_(identifiers))
    if orphans_only:  # the service records belong to no package (``sync_services`` keeps them)
        stmt = stmt.where(~_public_package_exists(ident), table.c[cols["pycsw:Type"]] != iso_service.HIERARCHY)
    return [tuple(r) for r in conn.execute(stmt)]


def _packages_of(conn, uuids) -> list[str]:
    """Ids of the public CA/JDD whose CSW identifiers these are."""
    if not uuids:
        return []
    package = model.Package.__table__
    query = sa.select(package.c.id).where(
        csw_identifier_sql(package).in_(sorted(uuids)),
        package.c.type.in_(sinp_model.KINDS),
        package.c.state == "active",
        package.c.private.is_(False),
    )
    return [r[0] for r in conn.execute(query)]


def remove_orphans(identifiers=None) -> dict:
    """Deletes the CSW rows that no public, active CA/JDD holds any more (one anti-join; only
    among ``identifiers`` when given) and has the parent records of the removed rows rendered
    again (a CA's extent, through the outbox). Returns {"removed": [identifier], "parents": n}."""
    with model.meta.engine.begin() as conn:
        removed = _delete_rows(conn, identifiers)
        gone = {identifier for identifier, _parent in removed}
        parents = _packages_of(conn, {parent for _identifier, parent in removed if parent and parent not in gone})
        task_ids = [runner.add(conn, TASK, package_id, {}) for package_id in parents]
        if identifiers is None or gone:  # the sweep: deposits change what the services serve
            changed = sync_services(conn)["changed_jdd"]
            task_ids += [runner.add(conn, TASK, package_id, {}) for package_id in _packages_of(conn, changed)]
    if task_ids:
        runner.enqueue(task_ids)  # Redis down: the scheduler hands them over later
    if removed:
        log.info("CSW : %d fiche(s) retirée(s) (plus de fiche publique) : %s", len(removed), sorted(gone))
    return {"removed": sorted(gone), "parents": len(parents)}


def _withdrawn(session) -> set[str]:
    """SINP UUIDs of the CA/JDD that this flush purges, deletes or makes private (or draft)."""
    uuids = set()
    for obj in list(session.deleted) + list(session.dirty):
        if not isinstance(obj, model.Package) or obj.type not in sinp_model.KINDS:
            continue
        if obj in session.deleted or obj.state != "active" or obj.private:
            uuids.update(identifiers_of(obj.extras or {}))
    return uuids


def _before_flush(session, _flush_context, _instances) -> None:
    with session.no_autoflush:
        uuids = _withdrawn(session)
    if not uuids:
        return
    # in the record's own transaction: committed with it, kept if it rolls back
    removed = _delete_rows(session.connection(), uuids, orphans_only=False)
    gone = {identifier for identifier, _parent in removed}
    for package_id in _packages_of(session.connection(), {p for _i, p in removed if p and p not in gone}):
        mark(package_id)  # the parent CA shows the extent of its public JDD
    if gone:  # no service record names a withdrawn JDD, not even until the outbox task runs
        sync_services(session.connection())


def install_session_hooks() -> None:
    target = model.meta.Session
    if not sa.event.contains(target, "before_flush", _before_flush):
        sa.event.listen(target, "before_flush", _before_flush)


def identifiers_of(extras: dict) -> set[str]:
    """The CSW identifiers a package's row may have: its SINP UUID and, harvested, the source's
    identifier (republished or not: the configuration may have changed since the row was written)."""
    origin = iso.origin_of(extras) or {}
    return {i for i in (extras.get("sinp_uuid"), iso.clean_text(origin.get("identifiant"))) if i}


def _uuid_of_row(conn, package_id) -> str | None:
    pkg = model.Package.get(package_id)
    return iso.csw_identifier(pkg.extras or {}) if pkg is not None else None


def rebuild(dry_run: bool = False) -> dict:
    """Recomputes every row from CKAN; returns the differences found (and fixed unless dry_run).

    {"added": [uuid], "updated": [uuid], "removed": [uuid], "unchanged": n}
    A row is "updated" only when its published document differs (dateStamp aside); its
    dateStamp then moves forward as in ``sync_packages``.
    """
    table = repository.get_table()
    columns = repository.column_names()
    id_col = columns["pycsw:Identifier"]
    ids = [
        p.id
        for p in model.Session.query(model.Package.id).filter(
            model.Package.type.in_(sinp_model.KINDS), model.Package.state == "active", model.Package.private.is_(False)
        )
    ]
    with model.meta.engine.begin() as conn:
        current = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                sa.select(table.c[id_col], table.c[columns["pycsw:XML"]], table.c[columns["pycsw:Modified"]])
            )
        }
        added, updated, unchanged, public, skipped = [], [], 0, set(), []
        for package_id in ids:
            pkg = _show(package_id)
            if not is_public(pkg):
                continue
            uuid = iso.csw_identifier(pkg)
            try:
                row = next_row(pkg, current.get(uuid))
            except ValueError as err:  # a record the ISO writer cannot describe (no SINP identifier…):
                # not published, reported; the others are still rebuilt
                log.warning("CSW : fiche %s non publiée : %s", package_id, err)
                skipped.append(package_id)
                continue
            public.add(uuid)
            if row is None:
                unchanged += 1
                continue
            (updated if uuid in current else added).append(uuid)
            if not dry_run:
                repository.upsert_record(conn, row)
        public.update(service.identifier(tk.config.get("ckan.site_url")) for service in flux_services.SERVICES)
        removed = sorted(set(current) - public)
        if not dry_run:
            for uuid in removed:
                repository.delete_record(conn, uuid)
            _delete_rows(conn, added + updated)  # deleted or purged while this ran
            services = sync_services(conn)  # after the JDD rows: operatesOn names what is published
            added += services["added"]
            updated += services["updated"]
            unchanged += len(services["unchanged"])
            removed += services["removed"]
    return {
        "added": sorted(added),
        "updated": sorted(updated),
        "removed": removed,
        "unchanged": unchanged,
        "skipped": sorted(skipped),
    }


# --- the service records of the data flows (domain.iso_service) -----------------------------------


def served_jdd(conn) -> list[iso_service.ServedJdd]:
    """The JDD the map server's services serve, as our CSW publishes them: our own (not harvested)
    public JDD whose record is in the CSW table and that has public observations in the flows
    (``_observed``). Never a private, draft, deleted or withdrawn JDD: the table holds only public
    records, a withdrawal deletes the row in its own transaction (read here through the same
    connection), and the package must still be public."""
    if not _has_counts(conn):
        return []
    package = model.Package.__table__
    table = repository.get_table()
    cols = repository.column_names()
    ident = table.c[cols["pycsw:Identifier"]]
    query = (
        sa.select(ident, table.c[cols["pycsw:Title"]])
        .select_from(table.join(package, sa.collate(csw_identifier_sql(package), "C") == ident))
        .where(
            package.c.type == "jdd",
            package.c.state == "active",
            package.c.private.is_(False),
            _origin_sql(package).is_(None),
            table.c[cols["pycsw:Type"]] == "dataset",
            _observed(package),
        )
        .order_by(ident)
    )
    return [iso_service.ServedJdd(r[0], r[1] or r[0]) for r in conn.execute(query)]


def service_context(conn, date_stamp: dt.datetime) -> iso_service.ServiceContext:
    return iso_service.ServiceContext(
        site_url=tk.config.get("ckan.site_url"),
        flux_url=settings.flux_public_url(),
        csw_url=settings.csw_url(),
        date_stamp=date_stamp,
        platform_contact=settings.csw_contact(),
        bbox=protection_store.territory_extent(conn),
    )


def _service_row(service, served, ctx) -> dict:
    xml = iso_service.to_iso19139(service, served, ctx)
    return repository.row_of(iso_service.csw_values(service, served, ctx, xml))


def sync_services(conn, now: dt.datetime | None = None) -> dict:
    """Writes, in ``conn``'s transaction, the record of each service whose document changed (the
    served JDD, the settings…); its dateStamp is then ``now``, at least one second after the previous
    one (GeoNetwork compares them to the second). When no public JDD is served the records are
    withdrawn. Returns {"added", "updated", "unchanged", "removed", "written", "changed_jdd"}:
    identifiers (``changed_jdd``: the JDD that started or stopped being served, whose own records
    must be rendered again)."""
    now = (now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).replace(microsecond=0)
    ctx = service_context(conn, now)
    # the service rows locked before the served JDD are read: a sync that read them first could wait on
    # a withdrawal's transaction (which rewrites these rows) and then write the withdrawn JDD back; read
    # after the locks, the statement sees what that transaction committed (same rows, same order as below)
    current_rows = {s.key: _current_row(conn, s.identifier(ctx.site_url), lock=True) for s in flux_services.SERVICES}
    served = served_jdd(conn)
    columns = repository.column_names()
    xml_column = columns["pycsw:XML"]
    table = repository.get_table()
    before = conn.execute(
        sa.select(table.c[columns["pycsw:OperatesOn"]]).where(
            table.c[columns["pycsw:Identifier"]] == flux_services.SERVICES[0].identifier(ctx.site_url)
        )
    ).scalar()
    report = {"added": [], "updated": [], "unchanged": [], "removed": []}
    # the JDD that start or stop being served: their own records gain or lose the links to the flows
    report["changed_jdd"] = sorted(set((before or "").split(",")) ^ {j.identifier for j in served} - {""})
    for service in flux_services.SERVICES:
        identifier = service.identifier(ctx.site_url)
        if not served:  # nothing public in the flows: no record (it would describe an empty service)
            if repository.delete_record(conn, identifier):
                report["removed"].append(identifier)
            continue
        current = current_rows[service.key]
        previous = _stamp_of(current[1]) if current else None
        if previous is not None:
            same = _service_row(service, served, dataclasses.replace(ctx, date_stamp=previous))
            if same[xml_column] == current[0]:
                report["unchanged"].append(identifier)
                continue
            ctx_now = dataclasses.replace(ctx, date_stamp=max(now, previous + dt.timedelta(seconds=1)))
        else:
            ctx_now = ctx
        repository.upsert_record(conn, _service_row(service, served, ctx_now))
        report["updated" if current else "added"].append(identifier)
    report["written"] = report["added"] + report["updated"]
    return report
