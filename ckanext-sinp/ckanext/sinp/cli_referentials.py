"""``ckan sinp habref-load`` and ``ckan sinp geo-load``: loading of the referentials used by the occurrence QC.

Register them on the ``sinp`` group of ``cli.py``::

    from ckanext.sinp.cli_referentials import COMMANDS
    for command in COMMANDS:
        sinp.add_command(command)

They run inside CKAN (``ckan -c var/test.ini sinp geo-load communes v_commune_2024.csv``)
on ``ckan.model.meta.engine``; the loading itself is ``referentials/geo_store.py``.
"""

from __future__ import annotations

import hashlib
import os
import zipfile

import ckan.model as model
import click

from ckanext.sinp.domain import protection
from ckanext.sinp.occurrences import protection_store
from ckanext.sinp.referentials import geo_store
from ckanext.sinp.referentials.geo_store import GeoStoreError
from ckanext.sinp.referentials.tabular import ReferentialFormatError

__all__ = ["COMMANDS", "habref_load", "geo_load", "get_engine"]

GEO_KINDS = ("communes", "departements", "mailles", "territoire", "contours-communes", "contours-departements")
_LABELS = {
    "communes": "Communes",
    "departements": "Départements",
    "mailles": "Mailles 10 km",
    "territoire": "Territoire",
    "contours-communes": "Contours des communes",
    "contours-departements": "Contours des départements",
}
# (noun, "loaded" agreed with it) per referential, for the final message
_UNITS = {
    "habref": ("habitats", "chargés"),
    "communes": ("communes", "chargées"),
    "departements": ("départements", "chargés"),
    "mailles": ("mailles", "chargées"),
    "territoire": ("contour", "chargé"),
    "contours_communes": ("contours de communes", "chargés"),
    "contours_departements": ("contours de départements", "chargés"),
}


def get_engine():
    """CKAN's SQLAlchemy engine (imported late: the module stays importable without CKAN)."""

    return model.meta.engine


def _data_lines(path: str) -> int:
    """Lines after the header (an estimate of the rows, for the progress bar); 0 when unknown."""
    if zipfile.is_zipfile(path) or path.lower().endswith(".gpkg"):  # not lines (a GeoPackage is SQLite)
        return 0
    with open(path, "rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)


def _run(label: str, path: str, load) -> None:
    """Run ``load(progress)`` behind a progress bar; French report, exit code 1 on a refused file."""

    with click.progressbar(length=_data_lines(path), label=label, show_pos=True) as bar:
        done = [0]

        def progress(rows: int) -> None:
            bar.update(rows - done[0])
            done[0] = rows

        try:
            result = load(progress)
        except ReferentialFormatError as error:
            click.echo("")
            click.secho(f"Fichier refusé : {error}", fg="red", err=True)
            raise SystemExit(1)
        except GeoStoreError as error:
            click.echo("")
            click.secho(str(error), fg="red", err=True)
            raise SystemExit(1)
    unit, loaded = _UNITS.get(result.name, ("lignes", "chargées"))
    if result.loaded:
        skipped = (
            f" ; {result.skipped} ligne(s) du fichier écartée(s) (autre région ou autre type)" if result.skipped else ""
        )
        click.secho(
            f"{result.row_count} {unit} {loaded} ({result.version}) en {result.seconds:.1f} s{skipped}.", fg="green"
        )
    else:
        click.secho(
            f"Ce fichier est déjà chargé ({result.row_count} {unit}, version {result.version}) : rien à faire.",
            fg="green",
        )


@click.command("habref-load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--typoref",
    type=click.Path(exists=True, dir_okay=False),
    help="Fichier TYPOREF_NN.csv pour nommer les typologies (lu dans l'archive .zip par défaut).",
)
@click.option(
    "--version-label",
    default=None,
    help="Version du référentiel, ex. « HABREF 5.0 » (par défaut : déduite du nom du fichier).",
)
@click.option("--force", is_flag=True, help="Recharger même si ce fichier est déjà chargé.")
def habref_load(path: str, typoref: str | None, version_label: str | None, force: bool) -> None:
    """Charge le référentiel des habitats HABREF (HABREF_50.csv, ou l'archive .zip officielle).

    Idempotent : le même fichier n'est pas rechargé ; un autre fichier remplace le référentiel
    en une seule transaction (l'ancien reste en place en cas d'erreur).
    """

    _run(
        "HABREF",
        path,
        lambda progress: geo_store.load_habref(
            get_engine(), path, version_label, progress, typoref=typoref, force=force
        ),
    )


@click.command("geo-load")
@click.argument("kind", metavar="{" + "|".join(GEO_KINDS) + "}", type=click.Choice(GEO_KINDS))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--region",
    default="27",
    show_default=True,
    help="Code INSEE de la région gardée (communes, départements et leurs contours) ; « toutes » pour tout garder.",
)
@click.option(
    "--version-label",
    default=None,
    help="Version du référentiel, ex. « COG 2024 » (par défaut : déduite du nom du fichier).",
)
@click.option("--force", is_flag=True, help="Recharger même si ce fichier est déjà chargé.")
def geo_load(kind: str, path: str, region: str, version_label: str | None, force: bool) -> None:
    """Charge un référentiel géographique : communes, départements, mailles 10 km, contour du territoire
    ou contours des communes et des départements.

    \b
    communes               v_commune_AAAA.csv de l'INSEE (COG), CSV ADMIN EXPRESS ou code;nom;departement
    departements           v_departement_AAAA.csv de l'INSEE (COG) ou code;nom
    mailles                grille INPN 10 km Lambert-93 : cd_sig;code_10km[;wkt] (WKT en EPSG:2154)
    territoire             contour GeoJSON (Polygon ou MultiPolygon) en WGS 84
    contours-communes      IGN ADMIN EXPRESS COG : GeoPackage (.gpkg, couche commune) ou
                           GeoJSON (ogr2ogr -f GeoJSON), champs INSEE_COM, NOM, INSEE_DEP, INSEE_REG
    contours-departements  IGN ADMIN EXPRESS COG : GeoPackage (couche departement) ou GeoJSON,
                           champs INSEE_DEP, NOM, INSEE_REG

    Les contours dessinent les communes et les départements sur la carte (/carte) et dans les flux
    WMS/WFS/OGC API ; le planificateur recalcule les couches (ou : ckan sinp carte-refresh).
    Idempotent ; un autre fichier remplace le référentiel en une seule transaction.
    """

    loader = geo_store.LOADERS[kind]
    options = {"force": force}
    if kind not in ("mailles", "territoire"):
        options["region"] = region
    _run(
        f"{_LABELS[kind]} ({os.path.basename(path)})",
        path,
        lambda progress: loader(get_engine(), path, version_label, progress, **options),
    )


@click.command("sensitivity-load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--version", "version_label", default=None, help="Libellé de version (par défaut : le nom du fichier).")
def sensitivity_load(path: str, version_label: str | None) -> None:
    """Charge un référentiel de sensibilité (CSV) : il remplace le précédent et la sensibilité de
    toutes les occurrences (hors décisions manuelles) est recalculée."""

    with open(path, "rb") as handle:
        data = handle.read()
    try:
        rules = protection.read_rules(data)
    except protection.RuleFileError as error:
        click.secho(f"Fichier refusé : {error}", fg="red", err=True)
        raise SystemExit(1)
    result = protection_store.load_rules(
        get_engine(),
        rules,
        version_label or os.path.basename(path),
        os.path.basename(path),
        hashlib.sha256(data).hexdigest(),
    )
    click.secho(
        f"{result['rules']} règles chargées ({result['taxa']} noms de taxons couverts) ; sensibilité "
        f"recalculée sur {result['occurrences']} occurrence(s).",
        fg="green",
    )
    _reindex_jdd_with_occurrences()
    if result["unknown_taxa"]:
        click.secho(
            "Taxons absents du TAXREF chargé (la règle ne couvre que ce code exact) : "
            + ", ".join(str(c) for c in result["unknown_taxa"]),
            fg="yellow",
        )


@click.command("sensitivity-refresh")
def sensitivity_refresh() -> None:
    """Recalcule la couverture des règles (après un nouveau TAXREF) et la sensibilité des occurrences."""

    engine = get_engine()
    protection_store.ensure_tables(engine)
    with engine.begin() as conn:
        taxa = protection_store.refresh_rule_taxa(conn)
        n = protection_store.compute_sensitivity(conn)
    click.secho(f"{taxa} noms de taxons couverts ; sensibilité recalculée sur {n} occurrence(s).", fg="green")
    _reindex_jdd_with_occurrences()


def _reindex_jdd_with_occurrences() -> None:
    """A JDD's search entry holds the names of the taxa the public may see in it: after a change of
    sensitivity, every JDD holding occurrences is indexed again (a taxon now hidden is no longer found)."""
    from ckanext.sinp.logic.records import index_packages

    with get_engine().connect() as conn:
        ids = protection_store.occurrence_package_ids(conn)
    if ids:
        index_packages(ids)
    click.echo(f"{len(ids)} jeu(x) de données réindexé(s) pour la recherche.")


COMMANDS = [habref_load, geo_load, sensitivity_load, sensitivity_refresh]
