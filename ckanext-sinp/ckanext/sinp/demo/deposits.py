"""The demo's observations (``ckan sinp demo-data``): the generated set of ``occurrences.py``
written into the demo's JDD through the store write a deposit uses (``store.queue_deposit`` then
``store.integrate``: the platform computes cd_ref, group, département, 10 km cell, sensitivity and
public layer as for any deposit), then the map's roll-ups and the ORB indicators.

Each lot is a resource of its JDD (a description, no uploaded file: the QC job is for uploaded
files) whose deposit holds the rows. Deterministic (fixed seed and date) and idempotent: a second
run finds the resources and the same rows (same sha256) and writes nothing; a changed generator
replaces the changed lots' rows: all of them are removed first (an observation the new generator moves
from one lot to another keeps its identifier, unique in the store), then each lot is written by
``integrate`` (which replaces a deposit's rows, never adds to them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pathlib
import tempfile

import ckan.model as model
import ckan.plugins.toolkit as tk
import sqlalchemy as sa

from ckanext.sinp import jobs
from ckanext.sinp.demo import occurrences
from ckanext.sinp.logic import indicator_actions
from ckanext.sinp.occurrences import map_store, store

SEED = 2026
NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)  # the set's « today »: deposits before it
COMMON = 3000  # observations of common taxa (with the sensitive, absent, EEE ones: ~3 900 rows)
# generated JDD (occurrences.JDDS) → the demo JDD (demo/datasets.json) that holds its lot
TARGETS = {
    "a1": "demo-inventaire-chiropteres-morvan",
    "a2": "demo-inventaire-chiropteres-morvan",
    "b1": "demo-odonates-doubs",
    "prive": "demo-odonates-doubs-2026-brouillon",  # private JDD: nothing of it is public
}
LOTS = {kind: n for n, kind in enumerate(TARGETS, start=1)}
DESCRIPTION = (
    "Observations **fictives**, générées pour la démonstration de la plateforme (commande "
    "`ckan sinp demo-data`) : plusieurs années, groupes et départements de Bourgogne-Franche-Comté, "
    "des espèces exotiques envahissantes et des espèces sensibles. Elles alimentent la carte, "
    "les flux de données et les indicateurs ; elles ne décrivent aucune observation réelle."
)
ERRORS_HEADER = "resource_id,seq,row,column,code,category,blocking,message,value\n"


def resource_name(kind: str) -> str:
    return f"Observations de démonstration (lot {LOTS[kind]})"


def rows() -> list[occurrences.Obs]:
    generated = occurrences.generate(SEED, NOW, centres=occurrences.DEMO_CENTRES, common=COMMON)
    occurrences.add_communes(generated, SEED)
    return generated


def _resource(context: dict, package: dict, name: str) -> dict:
    found = [r for r in package.get("resources") or [] if r.get("name") == name]
    if found:
        return found[0]
    return tk.get_action("resource_create")(
        dict(context), {"package_id": package["id"], "name": name, "url": "", "format": "", "description": DESCRIPTION}
    )


def _lot_csv(workdir: pathlib.Path, package: dict, resource: dict, lot: list, names: dict) -> tuple[pathlib.Path, str]:
    """The lot as the deposit's accepted rows, and their sha256."""
    accepted = workdir / f"{resource['id']}.csv"
    occurrences.write_csv(accepted, lot, resource["id"], package["id"], package["owner_org"], names)
    return accepted, hashlib.sha256(accepted.read_bytes()).hexdigest()


def _unchanged(engine, resource: dict, digest: str) -> bool:
    with engine.begin() as conn:
        deposit = store.get_deposit(conn, resource["id"])
    return deposit is not None and deposit.get("status") == "done" and deposit.get("sha256") == digest


def _deposit(
    engine,
    workdir: pathlib.Path,
    accepted: pathlib.Path,
    digest: str,
    package: dict,
    resource: dict,
    lot: list,
    admin: str,
    kind: str,
) -> int:
    """Writes one lot into the store; returns the rows written."""
    errors = workdir / f"{resource['id']}-errors.csv"
    errors.write_text(ERRORS_HEADER, encoding="utf-8")
    org = model.Group.get(package["owner_org"])
    with engine.begin() as conn:
        store.queue_deposit(
            conn,
            resource["id"],
            package["id"],
            jdd_uuid=package.get("sinp_uuid"),
            owner_org=package["owner_org"],
            producer=org.title if org is not None else None,
            depositor=admin,
        )
    outcome = {
        "status": "done",
        "progress": 1.0,
        "stage": "Terminé",
        "rows_received": len(lot),
        "rows_accepted": len(lot),
        "rows_rejected": 0,
        "summary": {"file": {"name": accepted.name, "generated": True}},
        "file_name": f"observations-demo-lot-{LOTS[kind]}.csv",
        "file_size": accepted.stat().st_size,
        "sha256": digest,
        "error_message": None,
    }
    return store.integrate(engine, resource["id"], accepted, errors, outcome)


def load(admin: str, echo=print) -> dict:
    """Deposits the generated lots, refreshes the map's roll-ups and computes the indicators.
    Returns {"rows": rows in the demo deposits, "written": rows written now, "public": rows the public
    map counts, "indicators": values of the live edition}."""
    context = {"user": admin, "ignore_auth": True}
    engine = model.meta.engine
    generated, names = rows(), occurrences.taxref()
    written = 0
    packages: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="sinp-demo-") as tmp:
        workdir = pathlib.Path(tmp)
        lots = []
        for kind, jdd_name in TARGETS.items():
            package = packages.get(jdd_name) or tk.get_action("package_show")(dict(context), {"id": jdd_name})
            packages[jdd_name] = package
            resource = _resource(context, package, resource_name(kind))
            lot = [o for o in generated if o.jdd == kind]
            accepted, digest = _lot_csv(workdir, package, resource, lot, names)
            same = _unchanged(engine, resource, digest)
            lots.append(
                {
                    "kind": kind,
                    "package": package,
                    "resource": resource,
                    "lot": lot,
                    "csv": accepted,
                    "digest": digest,
                    "same": same,
                }
            )
        changed = [x["resource"]["id"] for x in lots if not x["same"]]
        if changed:  # the old rows of every changed lot leave before any new row lands
            with engine.begin() as conn:
                conn.execute(store.OCCURRENCE.delete().where(store.OCCURRENCE.c.resource_id.in_(changed)))
        for x in lots:
            n = 0
            if not x["same"]:
                n = _deposit(
                    engine, workdir, x["csv"], x["digest"], x["package"], x["resource"], x["lot"], admin, x["kind"]
                )
            name = f"{x['resource']['name']} ({x['package']['name']})"
            echo(f"{name} : {len(x['lot'])} observations" + (" intégrées" if n else ", inchangées"))
            written += n
        for jdd_name in list(packages):
            packages[jdd_name] = tk.get_action("package_show")(dict(context), {"id": jdd_name})
    for package in packages.values():
        jobs.protect_extent(package["id"])  # blurred observations widen the published extent
    with engine.begin() as conn:
        map_store.refresh_public(conn, force=True)
        public = conn.execute(
            sa.text("SELECT coalesce(sum(nb_obs), 0) FROM sinp_carte_public WHERE niveau = 'departement'")
        ).scalar_one()
    indicators = indicator_actions.compute_edition()
    return {"rows": len(generated), "written": written, "public": int(public), "indicators": indicators["rows"]}
