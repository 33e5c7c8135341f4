"""CKAN plugin classes. Each hook delegates to a module that holds the logic."""

from __future__ import annotations

from collections import OrderedDict

import ckan.model as model
import ckan.plugins as p
import ckan.plugins.toolkit as tk
from ckan.lib.plugins import DefaultPermissionLabels, DefaultTranslation

from ckanext.sinp import cli, compat, helpers, indexing, jobs, outages, security_headers, views
from ckanext.sinp.csw import sync as csw_sync
from ckanext.sinp.logic import (
    access,
    auth,
    carte_actions,
    harvest_deletions,
    harvest_guard,
    indicator_actions,
    records,
    registry,
    resource_urls,
    validators,
)
from ckanext.sinp.outbox import runner
from ckanext.sinp.page_cache import glue as page_cache
from ckanext.sinp.views import carte as carte_views
from ckanext.spatial.interfaces import ISpatialHarvester

FACETS = OrderedDict(
    [
        ("vocab_sinp_type", "Type de fiche"),
        ("organization", "Structure productrice"),
        ("vocab_sinp_volet", "Volet SINP"),
        ("vocab_sinp_territoire", "Territoire"),
        ("vocab_sinp_type_donnees", "Type de données"),
        ("vocab_sinp_objectif_jdd", "Objectif du jeu de données"),
        ("vocab_sinp_annee", "Année"),
        ("tags", "Mots-clés"),
        ("license_id", "Licence"),
    ]
)
# facets a search page of one type does without: the type itself, what only the other type has
FACETS_HIDDEN = {
    "ca": ("vocab_sinp_type", "vocab_sinp_type_donnees", "vocab_sinp_objectif_jdd", "license_id"),
    "jdd": ("vocab_sinp_type",),
}


@tk.blanket.config_declarations
class SinpPlugin(p.SingletonPlugin, DefaultTranslation):
    """Core SINP plugin: the CA/JDD model glue, configuration, templates and ``ckan sinp``."""

    p.implements(p.IConfigurer)
    p.implements(p.IClick)
    p.implements(p.IBlueprint)
    p.implements(p.IValidators)
    p.implements(p.ITemplateHelpers)
    p.implements(p.IActions)
    p.implements(p.IAuthFunctions)
    p.implements(p.IFacets, inherit=True)
    p.implements(p.IPackageController, inherit=True)
    p.implements(p.IResourceController, inherit=True)
    p.implements(p.IPermissionLabels)
    p.implements(p.IMiddleware, inherit=True)
    # i18n/fr: our French for what CKAN's own catalogue (and its extensions') lacks; merged after CKAN's, it wins
    p.implements(p.ITranslation)

    # IConfigurer

    def update_config(self, config_):
        tk.add_template_directory(config_, "templates")
        tk.add_resource("assets", "ckanext-sinp")
        compat.fix_harvest_queue_socket_timeout()
        runner.install_session_hooks()
        csw_sync.register_tasks()
        csw_sync.install_session_hooks()  # a CA/JDD deleted, purged or made private: its CSW row goes in its transaction
        jobs.register_tasks()
        indexing.register_tasks()
        records.register_tasks()

    # IMiddleware

    def make_middleware(self, app, config):
        outages.watch_database(model.meta.engine)  # a request that lost PostgreSQL answers 503
        app = page_cache.install(app, model.meta.engine)  # before the headers: they are added to hits too
        return security_headers.install(app)

    # IClick

    def get_commands(self):
        return cli.get_commands()

    # IBlueprint

    def get_blueprint(self):
        return [*views.get_blueprints(), carte_views.carte]  # carte: /carte and /taxon/<cd_ref> (#16)

    # IValidators

    def get_validators(self):
        return {**validators.get_validators(), **resource_urls.get_validators()}

    # ITemplateHelpers

    def get_helpers(self):
        return helpers.get_helpers()

    # IActions

    def get_actions(self):
        # harvest_deletions: ckanext-harvest's raw SQL purge takes the CSW rows along
        return harvest_guard.with_harvest_guards(
            {
                **registry.get_actions(),
                **harvest_deletions.get_actions(),
                **indicator_actions.get_actions(),
                **carte_actions.get_actions(),
            }
        )

    # IAuthFunctions

    def get_auth_functions(self):
        return {
            **auth.get_auth_functions(),
            **indicator_actions.get_auth_functions(),
            **carte_actions.get_auth_functions(),
        }

    # IFacets

    def dataset_facets(self, facets_dict, package_type):
        return OrderedDict((k, v) for k, v in FACETS.items() if k not in FACETS_HIDDEN.get(package_type, ()))

    # IPackageController

    def before_dataset_index(self, pkg_dict):
        return indexing.before_dataset_index(harvest_guard.before_dataset_index(pkg_dict))

    def after_dataset_show(self, context, pkg_dict):
        return harvest_guard.after_dataset_show(context, pkg_dict)  # a harvest source's URL: sysadmins

    def after_dataset_search(self, search_results, search_params):
        resource_urls.clean_search_results(search_results)
        return harvest_guard.after_dataset_search(search_results, search_params)

    def after_dataset_create(self, context, pkg_dict):
        self._mark_for_csw(pkg_dict)

    def after_dataset_update(self, context, pkg_dict):
        self._mark_for_csw(pkg_dict)
        indexing.mark_children(pkg_dict)

    def after_dataset_delete(self, context, pkg_dict):
        self._mark_for_csw(pkg_dict)
        if pkg_dict.get("id"):
            jobs.delete_package(pkg_dict["id"])

    # IResourceController

    def before_resource_show(self, resource_dict):
        return resource_urls.clean_resource(resource_dict)  # a link of a refused scheme stored before the rule

    # (the CSW row of the resource's JDD: package_update, inside resource_create/update/delete,
    # recorded it in the transaction: after_dataset_update)

    def after_resource_create(self, context, resource):
        jobs.mark(resource, context.get("user"), bool(context.get("defer_commit")))

    def after_resource_update(self, context, resource):
        jobs.mark(resource, context.get("user"), bool(context.get("defer_commit")))

    def before_resource_delete(self, context, resource, resources):
        if resource.get("id"):
            jobs.delete_resource(resource["id"])

    # IPermissionLabels: CKAN's labels, plus the chefs de file whose scope holds occurrences of a
    # private JDD (so that package_search finds it for them, as package_show lets them read it)

    def get_dataset_labels(self, dataset_obj):

        labels = DefaultPermissionLabels().get_dataset_labels(dataset_obj)
        if dataset_obj.private and dataset_obj.type in ("ca", "jdd") and dataset_obj.state == "active":
            labels += [f"sinp-chef-{org}" for org in access.chefs_covering_record(dataset_obj)]
        return labels

    def get_user_dataset_labels(self, user_obj):

        labels = DefaultPermissionLabels().get_user_dataset_labels(user_obj)
        if user_obj is not None and getattr(user_obj, "id", None):
            labels += [f"sinp-chef-{org}" for org in access.chef_scopes(user_obj)]
        return labels

    @staticmethod
    def _mark_for_csw(pkg_dict):
        if pkg_dict.get("id"):
            csw_sync.mark(pkg_dict["id"], csw_sync.iso.csw_identifier(pkg_dict))


class SinpSpatialHarvestPlugin(p.SingletonPlugin):
    """Adapts the datasets that ckanext-spatial's harvesters (CSW, WAF) create to our schemas.

    A plugin of its own: ISpatialHarvester's ``get_validators`` would clash with IValidators'.
    """

    p.implements(ISpatialHarvester, inherit=True)

    # ISpatialHarvester

    def get_package_dict(self, context, data_dict):
        return indexing.harvested_package_dict(data_dict["package_dict"])
