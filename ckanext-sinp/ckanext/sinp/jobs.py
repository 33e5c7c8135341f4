"""The deposit job: a CSV uploaded to a JDD is checked in the background and integrated.

CKAN glue (the job module, beside the actions that queue it, as ckanext-xloader's ``jobs.py``):
the checks are ckanext.sinp.domain.occtax (pure), the storage ckanext.sinp.occurrences
(SQLAlchemy, no CKAN). A deposit to check is an outbox task (``outbox.runner``), recorded with
its « en attente » row in one transaction and handed to RQ after the commit; a run killed in the
middle is noticed (no heartbeat) and run again, then reported « interrompu ». The published extent
is widened by a task of its own, recorded in the integration's transaction, so a Solr outage
delays it without losing it. Deleting a resource or a JDD removes its occurrences in the same
transaction.
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
from sqlalchemy import exc as sa_exc

from ckanext.sinp import settings
from ckanext.sinp.domain.occtax import engine as qc
from ckanext.sinp.logic import access as sinp_access
from ckanext.sinp.logic import queries
from ckanext.sinp.logic.protection_actions import auto_options
from ckanext.sinp.logic.records import index_packages
from ckanext.sinp.logic.validators import BBOX_KEYS
from ckanext.sinp.occurrences import protection_store, store
from ckanext.sinp.outbox import runner
from ckanext.sinp.referentials import geo, geo_store

log = logging.getLogger(__name__)

TASK = "deposit"
EXTENT_TASK = "protect_extent"
TMP_PREFIX = "sinp-deposit-"


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


# --- recording a deposit to check ----------------------------------------------------------------


def _deposit_args(package_id: str, user: str | None) -> dict:
    pkg = model.Package.get(package_id)
    org = model.Group.get(pkg.owner_org) if pkg is not None and pkg.owner_org else None
    return {
        "package_id": package_id,
        "jdd_uuid": (pkg.extras or {}).get("sinp_uuid") if pkg is not None else None,
        "owner_org": pkg.owner_org if pkg is not None else None,
        "producer": org.title if org is not None else None,
        "depositor": user,
    }


def mark(resource: dict, user: str | None, deferred: bool = False) -> None:
    """A deposit was created or replaced. CKAN calls the resource hooks after its commit: the
    check is recorded (deposit « en attente » and its outbox task, one transaction) and handed to
    RQ at once; inside a caller's transaction (``defer_commit``) both wait for its commit. With
    Redis down the upload still succeeds: the task waits in the outbox for the scheduler."""
    if not resource.get("id") or not is_deposit(resource, _package_type(resource.get("package_id"))):
        return
    args = _deposit_args(resource["package_id"], user)
    if deferred:
        runner.defer(TASK, resource["id"], args)
    else:
        runner.add_now(TASK, resource["id"], args)


def enqueue(resource_id: str, package_id: str, user: str | None) -> None:
    """Queues the check of a deposit (again: « Relancer le contrôle », ``sinp_qc_run``)."""
    runner.add_now(TASK, resource_id, _deposit_args(package_id, user))


def _prepare(conn, resource_id: str, args: dict) -> None:
    """The deposit row, « en attente », in the transaction that records its task."""
    values = {k: args.get(k) for k in ("jdd_uuid", "owner_org", "producer", "depositor")}
    store.queue_deposit(conn, resource_id, args["package_id"], **values)


def _on_retry(conn, resource_id: str, args: dict, reason: str) -> None:
    store.set_status(conn, resource_id, "pending", "En attente : reprise après une interruption du traitement")


def _on_give_up(conn, resource_id: str, args: dict, reason: str) -> None:
    store.set_status(
        conn,
        resource_id,
        "interrupted",
        "Interrompu",
        message=(
            f"Le contrôle a été interrompu avant la fin, à plusieurs reprises ({reason}). Aucune donnée "
            "de ces tentatives n'a été intégrée ; les données intégrées auparavant restent en place. "
            "Relancez le contrôle ; si l'interruption se répète, contactez l'équipe de la plateforme."
        ),
    )


def _run(items: list[tuple[str, dict]]) -> None:
    for resource_id, _args in items:
        process(resource_id)


def _run_protect_extent(items: list[tuple[str, dict]]) -> None:
    for package_id, _args in items:
        if model.Package.get(package_id) is not None:
            protect_extent(package_id)


def register_tasks() -> None:
    runner.register(
        runner.Task(
            TASK,
            _run,
            "Contrôle d'un dépôt d'occurrences",
            batch=1,
            timeout=settings.qc_job_timeout,
            attempts=lambda: settings.outbox_timing()["deposit_attempts"],
            prepare=_prepare,
            on_retry=_on_retry,
            on_give_up=_on_give_up,
        )
    )
    runner.register(runner.Task(EXTENT_TASK, _run_protect_extent, "Emprise publiée d'un jeu de données", batch=50))


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


def remove_orphan_workdirs(base: str | None = None) -> list[str]:
    """Removes the working folders of deposit checks whose process no longer runs (a worker
    killed in the middle leaves its folder behind; each folder's name holds its process id)."""
    removed = []
    base = base or tempfile.gettempdir()
    for folder in pathlib.Path(base).glob(TMP_PREFIX + "*"):
        pid = folder.name[len(TMP_PREFIX) :].split("-", 1)[0]
        alive = pid.isdigit() and pathlib.Path(f"/proc/{pid}").exists()
        if folder.is_dir() and not alive:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def _unavailable(err: Exception) -> bool:
    """PostgreSQL (or the network to it) failed: the outbox runs the check again later."""
    return isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError) or getattr(
        err, "connection_invalidated", False
    )


def process(resource_id: str, force: bool = False) -> dict:
    """Checks one deposit and integrates its accepted rows (the ``deposit`` task)."""
    engine = model.meta.engine
    for folder in remove_orphan_workdirs():
        log.warning("Dossier de travail abandonné par un contrôle interrompu supprimé : %s", folder)
    try:
        return _process(engine, resource_id, force)
    except Exception as err:  # the worker stays healthy; the producer sees why
        if _unavailable(err):
            raise  # retried by the outbox, the deposit stays « en attente »
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
    workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-"))
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
            tasks = []

            def record_extent_task(conn):  # in the integration's transaction: never lost
                tasks.append(runner.add(conn, EXTENT_TASK, pkg.id))

            written = store.integrate(
                engine, resource_id, accepted, errors, outcome, criteria, level, also=record_extent_task
            )
            os.replace(target / "rejets.csv.part", target / "rejets.csv")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log.info("Dépôt %s : %s lignes reçues, %s acceptées", resource_id, summary["rows_received"], written)
    runner.run_inline(tasks)  # the extent at once; Solr down: retried by the outbox, the deposit stays done
    return {"status": "done", "rows_accepted": written}
