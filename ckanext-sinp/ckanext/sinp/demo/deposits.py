"""The demo's observations (``ckan sinp demo-data``): the generated set of ``occurrences.py``
written into the demo's JDD through the store write a deposit uses (``store.queue_deposit`` then
``store.integrate``: the platform computes cd_ref, group, département, 10 km cell, sensitivity and
public layer as for any deposit), then the map's roll-ups and the ORB indicators.

Each lot is a resource of its JDD (a description, no uploaded file: the QC job is for uploaded
files) whose deposit holds the rows. Deterministic (fixed seed and date) and idempotent: a second
run finds the resources and the same rows (same sha256) and writes nothing; a changed generator
replaces each lot's rows (``integrate`` replaces a deposit's rows, never adds to them).
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


def _deposit(
    engine, workdir: pathlib.Path, package: dict, resource: dict, lot: list, names: dict, admin: str, kind: str
) -> int:
    """Writes one lot into the store (unless its rows are already there); returns the rows written."""
    accepted = workdir / f"{resource['id']}.csv"
    occurrences.write_csv(accepted, lot, resource["id"], package["id"], package["owner_org"], names)
    digest = hashlib.sha256(accepted.read_bytes()).hexdigest()
    with engine.begin() as conn:
        deposit = store.get_deposit(conn, resource["id"])
    if deposit is not None and deposit.get("status") == "done" and deposit.get("sha256") == digest:
        return 0
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
        for kind, jdd_name in TARGETS.items():
            package = packages.get(jdd_name) or tk.get_action("package_show")(dict(context), {"id": jdd_name})
            resource = _resource(context, package, resource_name(kind))
            lot = [o for o in generated if o.jdd == kind]
            n = _deposit(engine, pathlib.Path(tmp), package, resource, lot, names, admin, kind)
            echo(f"{resource['name']} ({jdd_name}) : {len(lot)} observations" + (" intégrées" if n else ", inchangées"))
            written += n
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
