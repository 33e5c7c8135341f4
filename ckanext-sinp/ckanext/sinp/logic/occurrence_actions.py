"""Actions on occurrence deposits: ``sinp_qc_run``, ``sinp_qc_report_show``,
``sinp_occurrence_search``, ``sinp_occurrence_stats``, ``sinp_occurrence_map``,
``sinp_jdd_apply_extent``.

Who sees what (``logic/access.py``, rules in ``domain/protection.py``):
- occurrences: the producer's members, the chefs de file of the scope and sysadmins see them
  precisely; everybody else sees those of *published* JDD only, blurred to their public layer
  (sensitivity and the producer's diffusion choice), never those diffused "aucune";
- QC reports: the producer and sysadmins; the chefs de file covering the JDD with the values that
  would locate an observation masked; nobody else.
"""

from __future__ import annotations

import ckan.model as model
import ckan.plugins.toolkit as tk

from ckanext.sinp import jobs, settings
from ckanext.sinp.domain import protection
from ckanext.sinp.logic import access as sinp_access
from ckanext.sinp.logic import inputs, oracles
from ckanext.sinp.occurrences import aggregates, export_stream, store

MASKED = "(masqué)"
# report columns whose rejected values could locate an observation
LOCATING_COLUMNS = frozenset(protection.hidden_fields(protection.DEPARTEMENT)) | {"codeDepartement"}


def mask_locating(error: dict) -> dict:
    """A QC error as a chef de file sees it: a value that could locate an observation is masked,
    in the value and in the message that quotes it."""
    if error["column"] in LOCATING_COLUMNS and error["value"] not in (None, ""):
        error["message"] = error["message"].replace(error["value"], MASKED)
        error["value"] = MASKED
    return error


MAX_LIMIT = 1000


def _resource_and_jdd(context, data_dict):
    """The resource and its package; an unknown resource and one the caller may not read give the
    same 404 (``oracles``)."""
    resource_id = inputs.identifier(data_dict, "resource_id")
    resource, pkg = oracles.readable_resource(context, resource_id)
    if pkg.type != "jdd":
        raise tk.ValidationError({"resource_id": ["Cette ressource n'appartient pas à un jeu de données SINP."]})
    return resource, pkg


def sinp_qc_run(context, data_dict):
    """Re-runs the check of a deposit (``resource_id``); returns the queued report."""
    resource, pkg = _resource_and_jdd(context, data_dict)
    tk.check_access("sinp_qc_run", context, {"id": pkg.id})
    res_dict = tk.get_action("resource_show")({"ignore_auth": True}, {"id": resource.id})
    if not jobs.is_deposit(res_dict, pkg.type):
        raise tk.ValidationError({"resource_id": ["Seul un fichier CSV téléversé sur un jeu de données est contrôlé."]})
    jobs.enqueue(resource.id, pkg.id, context.get("user"))
    return tk.get_action("sinp_qc_report_show")(context, {"resource_id": resource.id, "limit": 0})


@tk.side_effect_free
def sinp_qc_report_show(context, data_dict):
    """The QC report of a deposit.

    :param resource_id: the deposited resource
    :param offset, limit: page of the error list (default 0, 100; limit ≤ 1000)
    :param code, column, category: filters of the error list
    :returns: status, progress, rows_received, rows_accepted, rows_rejected, counts, errors,
        receipt_url and receipt_html_url (the attestation, at a random token), plus errors_total
        (matching the filters), counts_by_column, counts_by_category, rows_rejected_by_category, file,
        ruleset, skipped_checks, stage, error_message
    """
    resource, pkg = _resource_and_jdd(context, data_dict)
    tk.check_access("sinp_qc_report_show", context, {"id": pkg.id})
    offset = inputs.integer(data_dict, "offset", 0)
    limit = inputs.integer(data_dict, "limit", 100, 0, MAX_LIMIT)
    with model.meta.engine.connect() as conn:
        deposit = store.get_deposit(conn, resource.id)
        if deposit is None:
            raise tk.ObjectNotFound("Aucun contrôle pour cette ressource (ce n'est pas un dépôt d'occurrences).")
        filters = [inputs.text(data_dict, k, max_length=200) for k in ("code", "column", "category")]
        errors, total = store.errors_page(conn, resource.id, offset, limit, *filters)
    summary = deposit.get("summary") or {}
    producer = sinp_access.is_producer(sinp_access.user_of(context), pkg) or context.get("ignore_auth")
    if not producer:  # a chef de file: what would locate an observation is masked
        errors = [mask_locating(e) for e in errors]
    site = tk.config.get("ckan.site_url", "").rstrip("/")
    return {
        "resource_id": resource.id,
        "package_id": pkg.id,
        "status": deposit["status"],
        "progress": deposit["progress"],
        "stage": deposit.get("stage"),
        "rows_received": deposit.get("rows_received"),
        "rows_accepted": deposit.get("rows_accepted"),
        "rows_rejected": deposit.get("rows_rejected"),
        "counts": summary.get("counts", {}),
        "counts_by_column": summary.get("counts_by_column", {}),
        "counts_by_category": summary.get("counts_by_category", {}),
        "rows_rejected_by_category": summary.get("rows_rejected_by_category", {}),
        "warnings_total": summary.get("warnings_total"),
        "file": summary.get("file"),
        "ruleset": summary.get("ruleset"),
        "skipped_checks": summary.get("skipped_checks", []),
        "errors": [
            {
                "row": e["row"],
                "column": e["column"],
                "code": e["code"],
                "category": e["category"],
                "message": e["message"],
                "value": e["value"],
                "blocking": e["blocking"],
            }
            for e in errors
        ],
        "errors_total": total,
        "offset": offset,
        "limit": limit,
        "error_message": deposit.get("error_message"),
        "receipt_number": deposit.get("receipt_number"),
        "receipt_url": (
            f"{site}/depot/{deposit['receipt_token']}/attestation.pdf"
            if deposit.get("receipt_token") and deposit["status"] == "done"
            else None
        ),
        "receipt_html_url": (
            f"{site}/depot/{deposit['receipt_token']}/attestation"
            if deposit.get("receipt_token") and deposit["status"] == "done"
            else None
        ),
        "report_url": f"{site}/jdd/{pkg.name}/depot/{resource.id}",
        "finished_at": deposit["finished_at"].isoformat() if deposit.get("finished_at") else None,
    }


def _filters(data_dict):
    cd_nom = data_dict.get("cd_nom")
    cd_nom = inputs.integer(data_dict, "cd_nom", None) if cd_nom not in (None, "") else None
    return {
        "bbox": inputs.bbox(data_dict.get("bbox")),
        "cd_nom": cd_nom,
        "date_min": inputs.date(data_dict, "date_min"),
        "date_max": inputs.date(data_dict, "date_max"),
    }


@tk.side_effect_free
def sinp_occurrence_search(context, data_dict):
    """Occurrences of a JDD as a GeoJSON FeatureCollection (properties named as in the standard),
    as the caller may see them: precise for the producer, the chefs de file of the scope and
    sysadmins; blurred to their diffusion level for everyone else (published JDD only).

    :param jdd: the JDD (id, name or SINP UUID)
    :param bbox: ouest,sud,est,nord (WGS 84), optional — compared with the geometry the caller gets
    :param cd_nom: TAXREF CD_NOM, optional
    :param date_min, date_max: AAAA-MM-JJ, optional (observations overlapping the period)
    :param limit: ≤ 1000 (default 100); :param offset:
    :returns: {"type": "FeatureCollection", "total": n, "features": [...]}; each feature's
        ``niveauDiffusion`` says what the caller got (precise, commune, maille, departement)
    """
    pkg = oracles.readable_jdd(context, inputs.identifier(data_dict, "jdd"))
    tk.check_access("sinp_occurrence_search", context, {"id": pkg.id})
    filters = _filters(data_dict)
    limit = inputs.integer(data_dict, "limit", 100, 0, MAX_LIMIT)
    offset = inputs.integer(data_dict, "offset", 0)
    access = sinp_access.access_for(context, [pkg.id])
    with model.meta.engine.connect() as conn:
        total, rows = store.search(conn, access, package_ids=[pkg.id], limit=limit, offset=offset, **filters)
    return {"type": "FeatureCollection", "total": total, "features": [store.to_feature(r) for r in rows]}


def export_rows(context, data_dict, batch: int = export_stream.BATCH):
    """(pkg, total, batches of rows) of ``sinp_occurrence_search`` without the page limit (at most
    ``ckanext.sinp.export.max_rows``): the exports apply exactly the same blurring
    (``store.blurred``; each row goes through ``store.to_feature``). The rows come from one
    server-side cursor, ``batch`` at a time (``occurrences/export_stream.py``): constant memory."""
    pkg = oracles.readable_jdd(context, inputs.identifier(data_dict, "jdd"))
    tk.check_access("sinp_occurrence_export", context, {"id": pkg.id})
    filters = _filters(data_dict)
    access = sinp_access.access_for(context, [pkg.id])
    cap = settings.export_max_rows()
    with model.meta.engine.connect() as conn:
        aggregates.without_jit(conn)  # the count comes before the first byte
        total, _ = store.search(conn, access, package_ids=[pkg.id], limit=0, **filters)
    if total > cap:
        raise tk.ValidationError(
            {
                "jdd": [
                    f"L'export est limité à {cap} occurrences ({total} demandées) : "
                    "filtrez par emprise, taxon ou période."
                ]
            }
        )
    return pkg, total, export_stream.row_batches(model.meta.engine, access, pkg.id, filters, batch)


@tk.side_effect_free
def sinp_occurrence_stats(context, data_dict):
    """What the occurrences of a JDD say about it, as the caller may see them: count, date range,
    extent, taxa, taxon groups, validation levels, how many are blurred."""
    pkg = oracles.readable_jdd(context, inputs.identifier(data_dict, "jdd"))
    tk.check_access("sinp_occurrence_search", context, {"id": pkg.id})
    access = sinp_access.access_for(context, [pkg.id])
    with model.meta.engine.connect() as conn:
        stats, cells = _summary(conn, access, pkg.id)
    points = stats["count"] <= aggregates.POINTS_MAX
    # not drawn: diffused at the département only (points), or without a 10 km cell (cells)
    unmapped = stats["coarse"] if points else stats["count"] - sum(c["count"] for c in cells)
    return {**stats, "map": {"mode": "points" if points else "maille", "unmapped": unmapped, "cells": len(cells)}}


def _summary(conn, access, package_id: str) -> tuple[dict, list[dict]]:
    """(figures, observations per 10 km cell) of a JDD as ``access`` sees them: the stored summary
    of its reading (public or full, ``occurrences/aggregates.py``), else computed live."""
    payload = aggregates.summary(conn, access, package_id)
    if payload is not None:
        return payload["stats"], payload["cells"]
    aggregates.without_jit(conn)
    return store.occurrence_stats(conn, access, package_id), aggregates.cells(conn, access, package_id)


@tk.side_effect_free
def sinp_occurrence_map(context, data_dict):
    """What the map of a JDD's occurrences draws, as the caller may see them: the observations one
    by one (as ``sinp_occurrence_search``: precise or blurred) when there are at most
    ``POINTS_MAX`` of them, else their count per 10 km cell (layers précise to maille; those
    diffused at the département only are counted, not mapped).

    :param jdd: the JDD (id, name or SINP UUID)
    :returns: {"total", "mapped", "mode": "points"|"maille", "cells": FeatureCollection of cells
        (properties code, count, blurred), "points": FeatureCollection or null}
    """
    pkg = oracles.readable_jdd(context, inputs.identifier(data_dict, "jdd"))
    tk.check_access("sinp_occurrence_search", context, {"id": pkg.id})
    access = sinp_access.access_for(context, [pkg.id])
    with model.meta.engine.connect() as conn:
        stats, cells = _summary(conn, access, pkg.id)
        points = None
        if stats["count"] <= aggregates.POINTS_MAX:
            _, rows = store.search(conn, access, package_ids=[pkg.id], limit=aggregates.POINTS_MAX)
            points = {"type": "FeatureCollection", "features": [store.to_feature(r) for r in rows]}
    grid = [
        {
            "type": "Feature",
            "id": c["code"],
            "geometry": c["geometry"],
            "properties": {"code": c["code"], "count": c["count"], "blurred": c["blurred"]},
        }
        for c in cells
    ]
    return {
        "total": stats["count"],
        "mapped": sum(c["count"] for c in cells),
        "mode": "points" if points is not None else "maille",
        "cells": {"type": "FeatureCollection", "features": grid},
        "points": points,
    }


def sinp_jdd_apply_extent(context, data_dict):
    """Writes the extent of a JDD's occurrences into its metadata (borne_ouest/sud/est/nord): the
    extent the public may know (blurred geometries; the territory when some occurrences are
    diffused at the département only), since the metadata is published."""
    pkg = oracles.readable_jdd(context, inputs.identifier(data_dict, "jdd"))
    tk.check_access("package_update", context, {"id": pkg.id})
    with model.meta.engine.connect() as conn:
        bbox = store.public_extent(conn, pkg.id)
    if not bbox:
        raise tk.ValidationError({"jdd": ["Ce jeu de données n'a pas encore d'occurrences géolocalisées diffusables."]})
    w, s, e, n = bbox
    if w == e:
        w, e = w - 0.0005, e + 0.0005
    if s == n:
        s, n = s - 0.0005, n + 0.0005
    return tk.get_action("package_patch")(
        context,
        {
            "id": pkg.id,
            "borne_ouest": f"{w:.6f}",
            "borne_sud": f"{s:.6f}",
            "borne_est": f"{e:.6f}",
            "borne_nord": f"{n:.6f}",
        },
    )
