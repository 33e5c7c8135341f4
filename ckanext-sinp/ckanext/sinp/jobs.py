"""The deposit job: a CSV uploaded to a JDD is checked in the background and integrated.

CKAN glue (the job module, beside the actions that queue it, as ckanext-xloader's ``jobs.py``):
the checks are ckanext.sinp.domain.occtax (pure), the storage ckanext.sinp.occurrences
(SQLAlchemy, no CKAN). A resource created or updated in a CKAN
transaction is remembered in the session and queued only after that transaction commits
(as the CSW sync); deleting a resource or a JDD removes its occurrences in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import pathlib
import shutil
import tempfile

import ckan.model as model
import ckan.plugins.toolkit as tk
from ckan.lib import uploader

from ckanext.sinp import session_hooks, settings
from ckanext.sinp.domain.occtax import engine as qc
from ckanext.sinp.logic import access as sinp_access
from ckanext.sinp.logic import queries
from ckanext.sinp.logic.protection_actions import auto_options
from ckanext.sinp.logic.records import index_packages
from ckanext.sinp.logic.validators import BBOX_KEYS
from ckanext.sinp.occurrences import protection_store, store
from ckanext.sinp.referentials import geo, geo_store

log = logging.getLogger(__name__)

PENDING_KEY = "sinp_qc_pending"


# --- which resources are deposits ----------------------------------------------------------------


def is_deposit(resource: dict, package_type: str | None) -> bool:
    """An uploaded CSV file on a JDD."""
    if package_type != "jdd" or resource.get("url_type") != "upload":
        return False
    fmt = (resource.get("format") or "").strip().lower()
    name = (resource.get("url") or resource.get("name") or "").lower()
    return fmt in ("csv", "text/csv") or name.endswith(".csv")


def _package_type(package_id: str) -> str | None:
    pkg = model.Package.get(package_id)
    return pkg.type if pkg is not None else None


# --- after commit -----------------------------------------------------------------------------------


def mark(resource: dict, user: str | None, deferred: bool = False) -> None:
    """A deposit was created or replaced. CKAN calls the resource hooks after its commit: the job
    is queued at once; inside a caller's transaction (``defer_commit``) it waits for the commit."""
    if not resource.get("id") or not is_deposit(resource, _package_type(resource.get("package_id"))):
        return
    if not deferred:
        try:
            enqueue(resource["id"], resource["package_id"], user)
        except Exception:  # Redis down: the deposit shows "pending"; `sinp_qc_run` re-queues it
            log.exception("Contrôle du dépôt %s non mis en file d'attente", resource["id"])
        return
    session_hooks.pending(PENDING_KEY)[resource["id"]] = (resource["package_id"], user)


def _queue(pending: dict) -> None:
    for resource_id, (package_id, user) in pending.items():
        try:
            enqueue(resource_id, package_id, user)
        except Exception:  # Redis down: the deposit shows "pending"; `sinp_qc_run` re-queues it
            log.exception("Contrôle du dépôt %s non mis en file d'attente", resource_id)


def install_session_hooks() -> None:
    session_hooks.install(PENDING_KEY, _queue)


def enqueue(resource_id: str, package_id: str, user: str | None) -> None:
    pkg = model.Package.get(package_id)
    org = model.Group.get(pkg.owner_org) if pkg is not None and pkg.owner_org else None
    with model.meta.engine.begin() as conn:
        store.queue_deposit(
            conn,
            resource_id,
            package_id,
            jdd_uuid=(pkg.extras or {}).get("sinp_uuid"),
            owner_org=pkg.owner_org if pkg else None,
            producer=org.title if org else None,
            depositor=user,
        )
    tk.enqueue_job(
        process,
        [resource_id],
        title=f"Contrôle du dépôt {resource_id}",
        rq_kwargs={"timeout": settings.qc_job_timeout()},
    )


# --- deletion (in CKAN's transaction) ------------------------------------------------------------------


def delete_resource(resource_id: str) -> None:
    store.delete_deposit(model.Session.connection(), resource_id)


def delete_package(package_id: str) -> None:
    store.delete_package(model.Session.connection(), package_id)


# --- the job ----------------------------------------------------------------------------------------


def _file_path(resource: dict) -> str:
    return uploader.get_resource_uploader(resource).get_path(resource["id"])


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def reports_dir(resource_id: str) -> pathlib.Path:
    base = tk.config.get("ckan.storage_path") or tempfile.gettempdir()
    return pathlib.Path(base) / "sinp_qc" / resource_id[:3] / resource_id


def load_referentials() -> qc.Referentials:
    """Everything the rules look up, from the database (loaded by the referential commands)."""
    data = geo_store.qc_referentials(model.meta.engine)
    territory_file = settings.territory_file()
    if territory_file and not data.get("territory_wkt"):
        data["territory_wkt"] = geo.read_territory(territory_file).wkt
    return qc.Referentials.from_dict(data)


def protect_extent(package_id: str) -> None:
    """A JDD holding blurred occurrences publishes an extent at least as coarse as what the public
    may know of them: its declared extent is widened to include the blurred areas (never narrowed),
    and the JDD and its private CA are reindexed (their chefs de file permission labels follow the
    occurrences)."""
    keys = BBOX_KEYS
    pkg = tk.get_action("package_show")({"ignore_auth": True}, {"id": package_id})
    try:
        current = [float(pkg.get(k)) for k in keys]
    except (TypeError, ValueError):
        current = None
    with model.meta.engine.connect() as conn:
        wanted = store.widened_extent(conn, package_id, current)
    if wanted:
        site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
        tk.get_action("package_patch")(
            {"user": site_user["name"], "ignore_auth": True},
            {"id": package_id, **{k: f"{v:.6f}" for k, v in zip(keys, wanted)}},
        )
        log.info("Emprise du JDD %s élargie (données sensibles ou floutées) : %s", package_id, wanted)
    patched = bool(wanted)  # package_patch reindexed the JDD
    cadre = pkg.get("cadre")
    ca_ids = [c.id for c in queries.packages_by_extra(model, "sinp_uuid", cadre, "ca") if c.private] if cadre else []
    ids = ([] if patched else [package_id]) + ca_ids
    if ids:
        index_packages(ids)


def depositor_access(depositor: str | None, owner_org: str | None) -> store.Access:
    """What the duplicate check D2 may compare a deposit with (``store.DuplicateLookup``).

    The report is read by the deposit's producer, so what it may name is what that producer sees
    precisely — whoever deposited (a sysadmin or a chef de file depositing for a producer widens
    nothing): exactly, the producer's own rows and, when the producer is itself a chef de file, its
    scope; at their public layer, the rows of published active JDD. ``depositor`` is kept for the
    signature's sake (the job knows it) and deliberately unused."""
    published = sinp_access.active_jdd_ids(published=True)
    if not owner_org:
        return store.Access(public_package_ids=published)
    with model.meta.engine.connect() as conn:
        scopes = list(protection_store.chefs(conn, [owner_org]).values())
    return store.Access(
        orgs=[owner_org],
        scopes=scopes,
        public_package_ids=published,
        scope_package_ids=sinp_access.active_jdd_ids() if scopes else (),
    )


def process(resource_id: str, force: bool = False) -> dict:
    """Checks one deposit and integrates its accepted rows (a background job)."""
    engine = model.meta.engine
    try:
        return _process(engine, resource_id, force)
    except Exception as err:  # the worker stays healthy; the producer sees why
        log.exception("Contrôle du dépôt %s en échec", resource_id)
        store.fail(
            engine,
            resource_id,
            f"Le contrôle n'a pas pu aboutir ({type(err).__name__}). "
            "L'équipe de la plateforme a été prévenue ; relancez le contrôle "
            "plus tard ou contactez-la.",
        )
        return {"status": "error"}
    finally:
        model.Session.remove()


def _process(engine, resource_id: str, force: bool) -> dict:
    resource = tk.get_action("resource_show")({"ignore_auth": True}, {"id": resource_id})
    pkg = model.Package.get(resource["package_id"])
    with engine.begin() as conn:
        deposit = store.get_deposit(conn, resource_id)
    if deposit is None:
        enqueue(resource_id, pkg.id, None)
        return {"status": "queued"}
    path = _file_path(resource)
    if not os.path.exists(path):
        store.fail(engine, resource_id, "Le fichier déposé est introuvable sur le serveur.")
        return {"status": "error"}
    if not force and deposit.get("status") == "done" and deposit.get("sha256") == _sha256(path):
        store.update_progress(engine, resource_id, 1.0, "Terminé (fichier inchangé)", status="done")
        return {"status": "done", "unchanged": True}
    store.update_progress(engine, resource_id, 0.0, "Lecture du fichier")
    state = {"stage": None}

    def progress(fraction, stage):
        if stage != state["stage"]:
            state["stage"] = stage
            store.update_progress(engine, resource_id, round(0.9 * fraction, 3), stage)

    srid = str(resource.get("srid") or "4326").strip()
    if srid not in ("4326", "2154"):
        store.fail(
            engine,
            resource_id,
            f"Système de coordonnées du dépôt « {srid} » non admis : indiquez 4326 "
            "(WGS 84) ou 2154 (Lambert-93) dans le champ srid de la ressource.",
        )
        return {"status": "error"}
    titles = {
        p.id: p.title
        for p in model.Session.query(model.Package.id, model.Package.title).filter(model.Package.type == "jdd")
    }
    lookup = store.DuplicateLookup(
        engine,
        resource_id,
        pkg.owner_org,
        {k: f"le jeu de données « {v} »" for k, v in titles.items()},
        depositor_access(deposit.get("depositor"), pkg.owner_org),
    )
    options = qc.Options(
        jdd_uuid=(pkg.extras or {}).get("sinp_uuid"),
        progress=progress,
        default_srid=int(srid),
        file_name=resource.get("name") or os.path.basename(resource.get("url") or "depot.csv"),
        **settings.qc_limits(),
    )
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="sinp-deposit-"))
    try:
        with qc.run(path, load_referentials(), options, store=lookup, workdir=workdir) as result:
            store.update_progress(engine, resource_id, 0.9, "Intégration des données acceptées")
            accepted, errors = workdir / "accepted.csv", workdir / "errors.csv"
            result.write_accepted_csv(
                accepted, {"resource_id": resource_id, "package_id": pkg.id, "owner_org": pkg.owner_org or ""}
            )
            result.write_errors_store_csv(errors, resource_id)
            target = reports_dir(resource_id)
            target.mkdir(parents=True, exist_ok=True)
            result.write_rejected_csv(target / "rejets.csv.part")
            summary = result.summary
            outcome = {
                "status": "done",
                "progress": 1.0,
                "stage": "Terminé",
                "rows_received": summary["rows_received"],
                "rows_accepted": summary["rows_accepted"],
                "rows_rejected": summary["rows_rejected"],
                "summary": summary,
                "stats": result.accepted_stats(),
                "file_name": options.file_name,
                "file_size": result.info.size,
                "sha256": result.info.sha256,
                "error_message": None,
                "finished_at": dt.datetime.now(dt.timezone.utc),
            }
            criteria, level = auto_options()
            written = store.integrate(engine, resource_id, accepted, errors, outcome, criteria, level)
            os.replace(target / "rejets.csv.part", target / "rejets.csv")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log.info("Dépôt %s : %s lignes reçues, %s acceptées", resource_id, summary["rows_received"], written)
    protect_extent(pkg.id)
    return {"status": "done", "rows_accepted": written}
