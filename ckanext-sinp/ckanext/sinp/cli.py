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

    from ckanext.sinp.logic import queries

    engine = model.meta.engine
    repository.ensure_table(engine)
    with engine.begin() as connection:
        queries.create_indexes(connection)
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
    click.secho("Données de démonstration chargées.", fg="green")
