"""``ckan sinp ...`` commands."""

from __future__ import annotations

import json
import os
from importlib import resources

import ckan.model as model
import ckan.plugins.toolkit as tk
import click

from ckanext.sinp import jobs, scheduler, settings
from ckanext.sinp.cli_referentials import COMMANDS
from ckanext.sinp.csw import repository, sync
from ckanext.sinp.csw.selftest import run_selftest
from ckanext.sinp.demo import deposits as demo_deposits
from ckanext.sinp.domain.occtax import engine as qc
from ckanext.sinp.logic import indicator_actions, oracles, queries
from ckanext.sinp.occurrences import aggregates, indicators_store, map_store
from ckanext.sinp.occurrences import store as occurrence_store
from ckanext.sinp.outbox import runner
from ckanext.sinp.outbox import store as outbox_store
from ckanext.sinp.page_cache import store as page_cache_store
from ckanext.sinp.referentials import geo_store, qc_command, taxref
from ckanext.sinp.referentials import taxref_store as store


def get_commands():
    return [sinp]


@click.group(short_help="Commandes de la plateforme SINP.")
def sinp():
    """Commandes de la plateforme SINP (base de données, données de démonstration)."""


@sinp.command("init-db")
def init_db():
    """Crée (ou met à jour) la table du dépôt CSW lue par pycsw. Idempotent."""

    engine = model.meta.engine

    repository.ensure_table(engine)
    store.ensure_tables(engine)
    occurrence_store.ensure_tables(engine)
    aggregates.ensure_tables(engine)  # JDD page figures and map, per generation of the data
    indicators_store.ensure_tables(engine)  # ORB indicators, per edition
    map_store.ensure_tables(engine, settings.flux_reader_role())  # géo-visualiseur, map server's views

    geo_store.ensure_tables(engine)
    outbox_store.ensure_table(engine)
    with engine.begin() as connection:
        queries.create_indexes(connection)
    role = settings.csw_reader_role()
    repository.grant_reader(engine, role)
    page_cache_store.ensure_triggers(engine)  # last: it covers every table created above
    click.secho(f"Table du dépôt CSW prête (lecture accordée à {role}).", fg="green")


def _demo_file(name: str):
    return json.loads(resources.files("ckanext.sinp").joinpath("demo", name).read_text("utf-8"))


@sinp.command("demo-data")
@click.option("--sans-observations", is_flag=True, help="Organisations et fiches seulement, sans observations.")
def demo_data(sans_observations):
    """Charge les données de démonstration (organisations, jeux, observations générées), puis
    recalcule la carte et les indicateurs. Idempotent."""
    admin = settings.demo_admin_user()
    context = {"user": admin, "ignore_auth": True}
    for org in _demo_file("organizations.json"):
        existing = model.Group.get(org["name"])
        if existing is None:
            tk.get_action("organization_create")(dict(context), org)
            click.echo(f"organisation créée : {org['name']}")
        else:
            tk.get_action("organization_patch")(dict(context), {"id": existing.id, **org})
            click.echo(f"organisation à jour : {org['name']}")
    for dataset in _demo_file("datasets.json"):  # CA before their JDD, méta-cadres first
        existing = model.Package.get(dataset["name"])
        if existing is not None and (existing.state == "deleted" or existing.type != dataset["type"]):
            # a deleted name cannot be reused, nor can a record change type: purge it first
            tk.get_action("dataset_purge")(dict(context), {"id": existing.id})
            existing = None
        if existing is None:
            tk.get_action("package_create")(dict(context), dict(dataset))
            click.echo(f"créé : {dataset['name']}")
        else:
            tk.get_action("package_update")(dict(context), {"id": existing.id, **dataset})
            click.echo(f"à jour : {dataset['name']}")
    if not sans_observations:
        done = demo_deposits.load(admin, echo=click.echo)
        click.echo(
            f"{done['rows']} observations de démonstration ({done['written']} écrites maintenant), "
            f"{done['public']} visibles du public sur la carte ; indicateurs : {done['indicators']} valeurs."
        )
    click.secho("Données de démonstration chargées.", fg="green")


@sinp.command("mtd-import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--owner-org", "-o", required=True, help="Structure productrice (nom ou id de l'organisation).")
@click.option("--user", "-u", default=None, help="Compte au nom duquel importer (par défaut : l'utilisateur du site).")
def mtd_import(files, owner_org, user):
    """Importe des documents XML de l'application MTD de l'INPN (cadres d'acquisition, jeux de données)."""
    if user is None:
        user = tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"]
    created = updated = failed = 0
    with click.progressbar(files, label="Import MTD", show_pos=True, item_show_func=lambda f: f or "") as bar:
        for path in bar:
            with open(path, "rb") as handle:
                data = handle.read()
            try:
                result = tk.get_action("sinp_mtd_import")(
                    {"user": user, "model": model, "session": model.Session},
                    {"xml": data, "owner_org": owner_org},
                )
            except tk.ValidationError as err:
                failed += 1
                click.echo("")
                click.secho(f"{path} refusé :", fg="red", err=True)
                for messages in err.error_dict.values():
                    for message in messages if isinstance(messages, list) else [messages]:
                        click.echo(f"  - {message}", err=True)
                continue
            for rec in result["records"]:
                created += rec["action"] == "created"
                updated += rec["action"] == "updated"
    click.secho(
        f"{created} créé(s), {updated} mis à jour, {failed} document(s) refusé(s).", fg="red" if failed else "green"
    )
    if failed:
        raise SystemExit(1)


@sinp.command("mtd-export")
@click.argument("ident")
def mtd_export(ident):
    """Écrit sur la sortie standard la fiche IDENT (nom, id ou UUID SINP) au format XML MTD."""
    site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"]
    click.echo(tk.get_action("sinp_mtd_export")({"user": site_user}, {"id": ident}), nl=False)


@sinp.command("taxref-load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--version", "version_label", required=True, help="Version du référentiel, ex. « TAXREF v18 ».")
@click.option("--force", is_flag=True, help="Recharger même si ce fichier est déjà chargé.")
def taxref_load(path, version_label, force):
    """Charge un fichier TAXREF (texte officiel v17/v18, ou .zip) comme référentiel taxonomique.

    Idempotent : le même fichier n'est pas rechargé ; un autre fichier remplace le référentiel
    en une seule transaction (l'ancien reste en place en cas d'erreur).
    """

    # rows = lines minus the header line
    size = max(1, sum(1 for _ in open(path, "rb")) - 1) if not path.endswith(".zip") else None
    with click.progressbar(length=size or 0, label="TAXREF", show_pos=True) as bar:
        done = [0]

        def progress(rows):
            bar.update(rows - done[0])
            done[0] = rows

        try:
            result = store.load_taxref(model.meta.engine, path, version_label, progress=progress, force=force)
        except taxref.TaxrefFormatError as err:
            click.echo("")
            click.secho(f"Fichier refusé : {err}", fg="red", err=True)
            raise SystemExit(1)
    if result.loaded:
        click.secho(f"{result.row_count} noms chargés ({result.version}) en {result.seconds:.1f} s.", fg="green")
    else:
        click.secho(f"Ce fichier est déjà chargé ({result.row_count} noms) : rien à faire.", fg="green")


@sinp.command("csw-sync")
@click.option("--dry-run", is_flag=True, help="Signaler les différences sans corriger la table.")
def csw_sync(dry_run):
    """Reconstruit la table du dépôt CSW à partir de CKAN et signale les différences. Idempotent."""

    report = sync.rebuild(dry_run=dry_run)
    verb = "à ajouter" if dry_run else "ajoutés"
    click.echo(
        f"{len(report['added'])} {verb}, {len(report['updated'])} "
        f"{'à mettre à jour' if dry_run else 'mis à jour'}, {len(report['removed'])} "
        f"{'à retirer' if dry_run else 'retirés'}, {report['unchanged']} inchangés."
    )
    for key, label in (("added", "ajout"), ("updated", "mise à jour"), ("removed", "retrait")):
        for uuid in report[key]:
            click.echo(f"  {label} : {uuid}")
    for package_id in report.get("skipped", []):
        click.secho(f"  non publiée (fiche incomplète pour l'ISO 19139) : {package_id}", fg="yellow")


@sinp.command("csw-selftest")
@click.option("--url", default=None, help="Adresse du CSW à tester (par défaut : ckanext.sinp.csw.url).")
@click.option("--page-size", default=20, show_default=True, help="Fiches par page, comme GeoNetwork.")
@click.option("--sample", default=50, show_default=True, help="Fiches lues en entier (GetRecordById) ; 0 : toutes.")
def csw_selftest(url, page_size, sample):
    """Rejoue les requêtes de GeoNetwork, udata et ckanext-spatial sur le CSW et signale chaque problème."""

    report = run_selftest(url or settings.csw_url(), page_size=page_size, sample=sample or None)
    click.echo(report.to_text())
    if not report.ok:
        raise SystemExit(1)


def _register_referential_commands():

    for command in COMMANDS:
        sinp.add_command(command)


_register_referential_commands()


@sinp.command("indicators-compute")
@click.option(
    "--edition",
    default=None,
    help="Année terminée à calculer et figer (ex. 2024) ; par défaut l'édition courante (recalculée).",
)
def indicators_compute(edition):
    """Calcule les indicateurs de l'ORB : l'édition courante, ou une année (figée une fois écrite)."""
    edition = edition or indicators_store.LIVE
    with click.progressbar(length=1, label=f"Indicateurs ({edition})", show_percent=True) as bar:
        state = {"done": 0}

        def progress(step, done, total):
            bar.length = total
            bar.update(done - state["done"], step)
            state["done"] = done

        try:
            result = indicator_actions.compute_edition(edition, progress)
        except indicators_store.EditionError as err:
            click.echo("")
            click.secho(str(err), fg="red", err=True)
            raise SystemExit(1)
    click.secho(f"Édition « {result['edition']} » calculée : {result['rows']} valeurs.", fg="green")


@sinp.command("carte-refresh")
@click.option("--recompter", is_flag=True, help="Recompter d'abord les observations par maille (table entière).")
def carte_refresh(recompter):
    """Recalcule les agrégats publics de la carte et des flux (mailles, communes, départements, emprises)."""
    with model.meta.engine.begin() as conn:
        counted = map_store.rebuild(conn) if recompter else None
        written = map_store.refresh_public(conn, force=True)
    if counted is not None:
        click.echo(f"Observations recomptées : {counted}.")
    parts = ", ".join(f"{name} : {n}" for name, n in written.items())
    click.secho(f"Agrégats publics recalculés ({parts}).", fg="green")


@sinp.command("qc-check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--jdd",
    "jdd_ref",
    default=None,
    help="Jeu de données visé (id, nom ou UUID SINP) : contrôle idSINPJdd et les doublons de la plateforme.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Écrit le rapport JSON complet (même forme que sinp_qc_report_show, toutes les erreurs).",
)
@click.option(
    "--srid",
    type=click.Choice(["4326", "2154"]),
    default="4326",
    show_default=True,
    help="Système de coordonnées des géométries sans colonne srid.",
)
def qc_check(path, jdd_ref, report_path, srid):
    """Contrôle un fichier d'occurrences sans rien enregistrer (mêmes règles que le dépôt)."""

    options = qc.Options(
        default_srid=int(srid),
        file_name=os.path.basename(path),
        **settings.qc_limits(),
    )
    lookup = None
    if jdd_ref:
        try:
            pkg = oracles.readable_jdd({"ignore_auth": True}, jdd_ref)
        except tk.ObjectNotFound as err:
            raise click.ClickException(f"{err} ({jdd_ref})")
        options.jdd_uuid = (pkg.extras or {}).get("sinp_uuid")
        lookup = occurrence_store.DuplicateLookup(model.meta.engine, "-", pkg.owner_org)
    with click.progressbar(length=100, label="Contrôle", show_percent=True) as bar:
        done = {"n": 0}

        def progress(fraction, stage):
            step = int(fraction * 100) - done["n"]
            if step > 0:
                bar.update(step)
                done["n"] += step

        options.progress = progress
        result = qc.run(path, jobs.load_referentials(), options, store=lookup)
    with result:
        report = result.report(limit=None)
    # the same lines, report and exit code as the local sinp-qc-check (referentials/qc_command.py)
    for line, warning in qc_command.summary_lines(report, report_path):
        click.secho(line, fg="yellow" if warning else None)
    if report_path:
        qc_command.write_report(report, report_path)
        click.echo(f"Rapport complet : {report_path}")
    if qc_command.exit_code(report):
        raise SystemExit(1)


@sinp.group("outbox")
def outbox_group():
    """Boîte d'envoi des travaux d'arrière-plan (dépôts, synchronisation CSW, indexation)."""


@outbox_group.command("status")
@click.option("--all", "show_all", is_flag=True, help="Lister aussi les tâches en attente et en cours.")
def outbox_status(show_all):
    """Nombre de tâches par état ; code de sortie 1 si une tâche a échoué définitivement."""
    counts = runner.counts()
    click.echo(json.dumps(counts, ensure_ascii=False))
    with model.meta.engine.connect() as conn:
        shown = outbox_store.rows(conn, ("pending", "running", "failed") if show_all else ("failed",))
    for row in shown:
        click.echo(
            f"  {row['id']} {row['state']} {row['task']} {row['key']} (essais : {row['attempts']}) {row['last_error'] or ''}"
        )
    if counts["failed"]:
        raise SystemExit(1)


@outbox_group.command("dispatch")
def outbox_dispatch():
    """Un passage du répartiteur : relance les tâches interrompues, confie à RQ celles qui sont dues."""
    click.echo(json.dumps(runner.dispatch(), ensure_ascii=False))


@sinp.command("reconcile")
@click.option("--no-csw", is_flag=True, help="Ne pas recalculer la table du CSW.")
def reconcile_command(no_csw):
    """Répare ce qu'une panne a pu laisser : dépôts jamais contrôlés, index de recherche, table CSW."""
    click.echo(json.dumps(scheduler.reconcile(csw=not no_csw), ensure_ascii=False))


@sinp.command("scheduler")
@click.option("--interval", default=30.0, show_default=True, help="Secondes entre deux passages.")
@click.option("--once", is_flag=True, help="Un seul passage (tests, cron).")
@click.pass_context
def scheduler_command(ctx, interval, once):
    """Planificateur : boîte d'envoi, moissonnages périodiques, réconciliations."""
    scheduler.loop(ctx.meta["flask_app"], interval=interval, once=once, echo=click.echo)
