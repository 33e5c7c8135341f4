"""``ckan sinp ...`` commands."""
from __future__ import annotations

import json
from importlib import resources

import click

import ckan.model as model
import ckan.plugins.toolkit as tk


def get_commands():
    return [sinp]


@click.group(short_help="Commandes de la plateforme SINP.")
def sinp():
    """Commandes de la plateforme SINP (base de données, données de démonstration)."""


@sinp.command("init-db")
def init_db():
    """Crée (ou met à jour) la table du dépôt CSW lue par pycsw. Idempotent."""
    from ckanext.sinp.csw import repository

    engine = model.meta.engine
    repository.ensure_table(engine)
    role = tk.config.get("ckanext.sinp.csw.reader_role")
    repository.grant_reader(engine, role)
    click.secho(f"Table du dépôt CSW prête (lecture accordée à {role}).", fg="green")


def _demo_file(name: str):
    return json.loads(resources.files("ckanext.sinp").joinpath("demo", name).read_text("utf-8"))


@sinp.command("demo-data")
def demo_data():
    """Charge les données de démonstration (organisations, jeux). Idempotent."""
    admin = tk.config.get("ckanext.sinp.demo.admin_user")
    context = {"user": admin, "ignore_auth": True}
    for org in _demo_file("organizations.json"):
        existing = model.Group.get(org["name"])
        if existing is None:
            tk.get_action("organization_create")(dict(context), org)
            click.echo(f"organisation créée : {org['name']}")
        else:
            tk.get_action("organization_patch")(dict(context), {"id": existing.id, **org})
            click.echo(f"organisation à jour : {org['name']}")
    for dataset in _demo_file("datasets.json"):
        existing = model.Package.get(dataset["name"])
        if existing is None or existing.state == "deleted":
            if existing is not None:
                # A purged name can be reused; a deleted one cannot.
                tk.get_action("dataset_purge")(dict(context), {"id": existing.id})
            tk.get_action("package_create")(dict(context), dict(dataset))
            click.echo(f"jeu créé : {dataset['name']}")
        else:
            tk.get_action("package_update")(dict(context), {"id": existing.id, **dataset})
            click.echo(f"jeu à jour : {dataset['name']}")
    click.secho("Données de démonstration chargées.", fg="green")
